/**
 * A match is never lost because another part of the entry cannot be read. A certificate whose key
 * is an owned key matches before anything else of it is parsed; the full parse that keyless rules
 * need (@sigstore/core) fails on certificates Go accepts (AlgorithmIdentifier parameters nested past
 * its depth limit of 100: Go's parseAI reads them as any element and ignores them for ECDSA), and
 * one signature of several may be unreadable. The owned-key signature is still a rogue-signature
 * (CRITICAL); what could not be read is reported besides (entry-unparseable).
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import { extractVerifiers } from '../../../functions/monitor-log/entry-verifiers.ts';
import { type OwnedIdentity, resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import { IdentityMatcher } from '../../../functions/monitor-log/matcher.ts';
import { certificate, ecdsaSha256, issuerV2, nested, pem, sanExt, uri } from './hand-built-cert.ts';
import { monitorAlerts } from './key-entry-checks.ts';

const KEY_VERSION = 'projects/p/locations/global/keyRings/r/cryptoKeys/release/cryptoKeyVersions/1';
const SAN = 'https://github.com/example-org/app/.github/workflows/release.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';
const kmsKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const spkiOf = (k: KeyObject) => k.export({ format: 'der', type: 'spki' });
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

/** The normal keyless-plus-KMS configuration: a certificate rule is what sends certificates to the full parse. */
const owned: OwnedIdentity[] = [
  { type: 'kms', keyVersion: KEY_VERSION },
  { type: 'certificate', san: SAN, issuer: ISSUER },
];
const identities = () =>
  resolveIdentities(owned, async () => kmsKey.publicKey.export({ format: 'pem', type: 'spki' }).toString());
const kinds = (alerts: { raised: Array<{ kind: string; severity: string }> }) =>
  alerts.raised.map((a) => `${a.kind}/${a.severity}`).sort();

const artifact = Buffer.from('malicious payload');
const signature = sign('sha256', artifact, kmsKey.privateKey);

function hashedrekord(verifierPem: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      apiVersion: '0.0.1',
      kind: 'hashedrekord',
      spec: {
        data: { hash: { algorithm: 'sha256', value: sha256(artifact) } },
        signature: { content: b64(signature), publicKey: { content: b64(verifierPem) } },
      },
    }),
  );
}
function dsse(verifierPems: string[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      apiVersion: '0.0.1',
      kind: 'dsse',
      spec: {
        envelopeHash: { algorithm: 'sha256', value: '00'.repeat(32) },
        payloadHash: { algorithm: 'sha256', value: '00'.repeat(32) },
        signatures: verifierPems.map((v) => ({ signature: b64(signature), verifier: b64(v) })),
      },
    }),
  );
}
function intoto002(publicKeys: string[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      apiVersion: '0.0.2',
      kind: 'intoto',
      spec: {
        content: {
          envelope: {
            payloadType: 'application/vnd.in-toto+json',
            signatures: publicKeys.map((k) => ({ publicKey: b64(k), sig: b64(b64(signature)) })),
          },
          hash: { algorithm: 'sha256', value: '00'.repeat(32) },
          payloadHash: { algorithm: 'sha256', value: '00'.repeat(32) },
        },
      },
    }),
  );
}

/** A certificate for `key` that @sigstore/core cannot parse, holding the certificate rule's literals. */
const deepCert = (key: KeyObject, san = SAN, issuer = ISSUER) =>
  certificate(spkiOf(key), [sanExt(uri(san)), issuerV2(issuer)], ecdsaSha256(nested(101)));
const ownedKeyPem = pem('PUBLIC KEY', spkiOf(kmsKey.publicKey));

describe('a match is kept when another part of the entry cannot be read', () => {
  it('control: the owned KMS key in a certificate that parses is rogue-signature alone', async () => {
    const cert = certificate(spkiOf(kmsKey.publicKey), [
      sanExt(uri('https://evil.example/x')),
      issuerV2(ISSUER),
    ]);
    assert.deepEqual(
      kinds(await monitorAlerts([hashedrekord(pem('CERTIFICATE', cert))], await identities())),
      ['rogue-signature/CRITICAL'],
    );
  });

  it('the owned KMS key in a certificate with 101-deep algorithm parameters: rogue-signature, and the parse failure reported', async () => {
    const body = hashedrekord(pem('CERTIFICATE', deepCert(kmsKey.publicKey)));
    assert.deepEqual(kinds(await monitorAlerts([body], await identities())), [
      'entry-unparseable/MEDIUM',
      'rogue-signature/CRITICAL',
    ]);
  });

  it('same, with the rule literals only inside a foreign SAN', async () => {
    const body = hashedrekord(
      pem('CERTIFICATE', deepCert(kmsKey.publicKey, `https://evil.example/?${SAN}`, `x${ISSUER}`)),
    );
    assert.deepEqual(kinds(await monitorAlerts([body], await identities())), [
      'entry-unparseable/MEDIUM',
      'rogue-signature/CRITICAL',
    ]);
  });

  it('matchOutcome returns the key match with the error; match still throws', async () => {
    const matcher = new IdentityMatcher(await identities());
    const verifier = { type: 'certificate' as const, der: deepCert(kmsKey.publicKey) };
    const outcome = matcher.matchOutcome(verifier);
    assert.ok(outcome.error instanceof Error);
    assert.deepEqual(
      outcome.matches.map((m) => m.identity.type),
      ['key'],
    );
    assert.throws(() => matcher.match(verifier));
  });

  it('dsse: an unparseable certificate before the owned key does not hide it', async () => {
    const body = dsse([pem('CERTIFICATE', deepCert(otherKey.publicKey)), ownedKeyPem]);
    assert.deepEqual(kinds(await monitorAlerts([body], await identities())), [
      'entry-unparseable/MEDIUM',
      'rogue-signature/CRITICAL',
    ]);
  });

  it('dsse: a key that is no SubjectPublicKeyInfo before the owned key does not hide it', async () => {
    const body = dsse([pem('PUBLIC KEY', Buffer.from('3003020101', 'hex')), ownedKeyPem]);
    assert.deepEqual(kinds(await monitorAlerts([body], await identities())), [
      'entry-unparseable/MEDIUM',
      'rogue-signature/CRITICAL',
    ]);
  });

  it('intoto 0.0.2 (keys kept as submitted): a signature whose key is no PEM before the owned key does not hide it', async () => {
    const body = intoto002(['not a key', ownedKeyPem]);
    const extracted = extractVerifiers(body);
    assert.ok(extracted.ok, JSON.stringify(extracted));
    assert.equal(extracted.verifiers.length, 1);
    assert.match(extracted.unreadable?.[0] ?? '', /envelope\.signatures\.publicKey is not a PEM key/);
    assert.deepEqual(kinds(await monitorAlerts([body], await identities())), [
      'entry-unparseable/MEDIUM',
      'rogue-signature/CRITICAL',
    ]);
  });

  it('an entry none of whose signatures can be read is unparseable, as before', async () => {
    const extracted = extractVerifiers(intoto002(['not a key', 'nor this']));
    assert.equal(extracted.ok, false);
    assert.deepEqual(kinds(await monitorAlerts([intoto002(['not a key'])], await identities())), [
      'entry-unparseable/MEDIUM',
    ]);
  });
});
