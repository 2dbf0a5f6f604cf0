/**
 * A keyless rule holds when any SAN of the certificate is the identity: cosign's
 * --certificate-identity and --certificate-identity-regexp accept any SAN (getSubjectAlternateNames),
 * not only the first. Fulcio writes one SAN, but a private CA (a `certificate` identity with another
 * root) and self-made certificates, which the monitor must flag, may hold several. Likewise a
 * certificate with both Fulcio issuer extensions matches a rule that either of them satisfies: which
 * one a verifier reads depends on their order (sigstore-go lets the later one win).
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import { type OwnedIdentity, resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import { IdentityMatcher } from '../../../functions/monitor-log/matcher.ts';
import { certificateIdentity } from '../../../functions/tlog/entries/identity.ts';
import { certificate, email, issuerV1, issuerV2, pem, sanExt, uri, username } from './hand-built-cert.ts';
import { monitorAlerts } from './key-entry-checks.ts';

const ISSUER = 'https://accounts.google.com';
const WORKFLOW = 'https://github.com/example-org/app/.github/workflows/release.yml@refs/heads/main';
const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const spki = key.publicKey.export({ format: 'der', type: 'spki' });
const noKms = () => Promise.reject(new Error('no KMS'));
const matchCount = async (identity: OwnedIdentity, der: Buffer) =>
  new IdentityMatcher(await resolveIdentities([identity], noKms)).match({ type: 'certificate', der }).length;

describe('every SAN of a certificate is matched', () => {
  const emailSecond = certificate(spki, [
    sanExt(uri('https://unrelated.example/'), email('release@example.org')),
    issuerV2(ISSUER),
  ]);
  const uriSecond = certificate(spki, [
    sanExt(uri('https://unrelated.example/'), uri(WORKFLOW)),
    issuerV2(ISSUER),
  ]);

  it('an email SAN after a URI SAN', async () => {
    assert.equal(
      await matchCount({ type: 'certificate', san: 'release@example.org', issuer: ISSUER }, emailSecond),
      1,
    );
  });
  it('a second URI SAN, exact and by pattern', async () => {
    assert.equal(await matchCount({ type: 'certificate', san: WORKFLOW, issuer: ISSUER }, uriSecond), 1);
    const pattern =
      '^https://github\\.com/example-org/app/\\.github/workflows/release\\.yml@refs/heads/main$';
    assert.equal(await matchCount({ type: 'certificate', sanRegex: pattern }, uriSecond), 1);
  });
  it('a Fulcio username SAN after an email', async () => {
    const der = certificate(spki, [sanExt(email('other@example.org'), username('alice!example.com'))]);
    assert.equal(await matchCount({ type: 'certificate', san: 'alice!example.com' }, der), 1);
  });
  it('still no match when no SAN is the identity, and the evidence names the SAN that matched', async () => {
    assert.equal(
      await matchCount({ type: 'certificate', san: 'other@example.org', issuer: ISSUER }, emailSecond),
      0,
    );
    const [m] = new IdentityMatcher(
      await resolveIdentities([{ type: 'certificate', san: WORKFLOW, issuer: ISSUER }], noKms),
    ).match({ type: 'certificate', der: uriSecond });
    assert.equal(m?.matched, `san ${WORKFLOW} issuer ${ISSUER}`);
  });
  it('certificateIdentity (what verification compares) still names the first SAN', () => {
    assert.equal(certificateIdentity(uriSecond).san, 'https://unrelated.example/');
  });

  it('a whole monitor run reports the owned identity in a second SAN (the literal prefilter lets it through)', async () => {
    const artifact = Buffer.from('artifact');
    const body = Buffer.from(
      JSON.stringify({
        apiVersion: '0.0.1',
        kind: 'hashedrekord',
        spec: {
          data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(artifact).digest('hex') } },
          signature: {
            content: sign('sha256', artifact, key.privateKey).toString('base64'),
            publicKey: { content: Buffer.from(pem('CERTIFICATE', uriSecond)).toString('base64') },
          },
        },
      }),
    );
    const alerts = await monitorAlerts(
      [body],
      await resolveIdentities([{ type: 'certificate', san: WORKFLOW, issuer: ISSUER }], noKms),
    );
    assert.deepEqual(
      alerts.raised.map((a) => `${a.kind}/${a.severity}`),
      ['rogue-signature/CRITICAL'],
    );
  });
});

describe('both Fulcio issuer extensions are tried', () => {
  it('the owned issuer in 1.1 and another in 1.8', async () => {
    const der = certificate(spki, [
      sanExt(email('release@example.org')),
      issuerV2('https://evil.example'),
      issuerV1(ISSUER),
    ]);
    assert.equal(
      await matchCount({ type: 'certificate', san: 'release@example.org', issuer: ISSUER }, der),
      1,
    );
    assert.equal(
      await matchCount(
        { type: 'certificate', san: 'release@example.org', issuerRegex: '^https://accounts\\.google\\.com$' },
        der,
      ),
      1,
    );
    assert.equal(
      await matchCount(
        { type: 'certificate', san: 'release@example.org', issuer: 'https://other.example' },
        der,
      ),
      0,
    );
  });
});
