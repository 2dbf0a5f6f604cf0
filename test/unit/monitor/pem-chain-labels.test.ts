/**
 * An intoto 0.0.2 signature key (kept by Rekor v1 as submitted) holding a certificate chain whose
 * leaf is under a PEM label other than CERTIFICATE. Rekor's pki/x509 NewPublicKey reads two or more
 * PEM blocks with cryptoutils.UnmarshalCertificatesFromPEMLimited, which never looks at a block's
 * type: the leaf (certs[0], the key that verifies the envelope and the identity Rekor indexes) may
 * be labelled "X509 CERTIFICATE", "TRUSTED CERTIFICATE" or "FOO". The monitor read CERTIFICATE and
 * *PUBLIC KEY blocks only, so the leaf was never matched and, with the issuing CA beside it, nothing
 * was reported (an adversarial review of the matcher, 2026-12-03: HIGH; a Go transcription of
 * Rekor's reading accepted each chain and verified the envelope with the leaf).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import { encodeTlv as tlv } from '../../../functions/monitor-log/der.ts';
import { extractVerifiers } from '../../../functions/monitor-log/entry-verifiers.ts';
import { OwnedIdentitySchema, resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import { fulcioOid, oid, pem, utf8 } from './hand-built-cert.ts';
import { monitorAlerts } from './key-entry-checks.ts';

const KEY_VERSION = 'projects/p/locations/global/keyRings/r/cryptoKeys/release/cryptoKeyVersions/1';
const SAN = 'https://github.com/example-org/app/.github/workflows/release.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';
const kms = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const spkiOf = (k: KeyObject) => k.export({ format: 'der', type: 'spki' });
const b64 = (b: string | Buffer) => Buffer.from(b).toString('base64');
const hex = (verifiers: Array<{ der: Buffer }>) => verifiers.map((v) => v.der.toString('hex'));
const kinds = (a: { raised: Array<{ kind: string; severity: string }> }) =>
  a.raised.map((x) => `${x.kind}/${x.severity}`).sort();

// --- a CA and a leaf it issues (a chain Go's x509.Certificate.Verify accepts)
const SEQ = 0x30;
const ECDSA_SHA256 = tlv(SEQ, oid('2a8648ce3d040302'));
const name = (cn: string) => tlv(SEQ, tlv(0x31, tlv(SEQ, oid('550403'), utf8(cn))));
const ext = (id: Buffer, value: Buffer, critical = false) =>
  tlv(SEQ, id, ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), tlv(0x04, value));
function cert(serial: number, issuer: string, subject: string, spki: Buffer, exts: Buffer[]): Buffer {
  const tbs = tlv(
    SEQ,
    tlv(0xa0, tlv(0x02, Buffer.from([2]))),
    tlv(0x02, Buffer.from([serial])),
    ECDSA_SHA256,
    name(issuer),
    tlv(SEQ, tlv(0x17, Buffer.from('250101000000Z')), tlv(0x17, Buffer.from('450101000000Z'))),
    name(subject),
    spki,
    tlv(0xa3, tlv(SEQ, ...exts)),
  );
  return tlv(SEQ, tbs, ECDSA_SHA256, tlv(0x03, Buffer.from([0]), sign('sha256', tbs, ca.privateKey)));
}
const caCert = cert(1, 'test-ca', 'test-ca', spkiOf(ca.publicKey), [
  ext(oid('551d13'), tlv(SEQ, tlv(0x01, Buffer.from([0xff]))), true), // basicConstraints CA:TRUE
  ext(oid('551d0f'), tlv(0x03, Buffer.from([0x01, 0x06])), true), // keyUsage keyCertSign|cRLSign
]);
/** The owned KMS key, and the owned workflow identity, in one leaf. */
const leaf = cert(2, 'test-ca', '', spkiOf(kms.publicKey), [
  ext(oid('551d11'), tlv(SEQ, tlv(0x86, Buffer.from(SAN))), true),
  ext(fulcioOid(8), utf8(ISSUER)),
]);

const payloadType = 'application/vnd.in-toto+json';
const payload = Buffer.from('{"_type":"https://in-toto.io/Statement/v0.1","subject":[]}');
const pae = Buffer.concat([
  Buffer.from(`DSSEv1 ${payloadType.length} ${payloadType} ${payload.length} `),
  payload,
]);
const signature = sign('sha256', pae, kms.privateKey);
const intoto002 = (publicKeyPem: string) =>
  Buffer.from(
    JSON.stringify({
      apiVersion: '0.0.2',
      kind: 'intoto',
      spec: {
        content: {
          envelope: { payloadType, signatures: [{ publicKey: b64(publicKeyPem), sig: b64(b64(signature)) }] },
          hash: { algorithm: 'sha256', value: '00'.repeat(32) },
          payloadHash: { algorithm: 'sha256', value: '00'.repeat(32) },
        },
      },
    }),
  );

const ownedKms = () =>
  resolveIdentities([{ type: 'kms', keyVersion: KEY_VERSION }], async () =>
    kms.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  );
const ownedWorkflow = () =>
  resolveIdentities([OwnedIdentitySchema.parse({ type: 'certificate', san: SAN, issuer: ISSUER })], () =>
    Promise.reject(new Error('no KMS')),
  );

const chain = (leafLabel: string) => pem(leafLabel, leaf) + pem('CERTIFICATE', caCert);

describe('an intoto 0.0.2 chain is read as Rekor reads it: every block a certificate, whatever its label', () => {
  it('control: a single PUBLIC KEY or CERTIFICATE block reads as before', async () => {
    for (const [text, want] of [
      [pem('PUBLIC KEY', spkiOf(kms.publicKey)), spkiOf(kms.publicKey)],
      [pem('CERTIFICATE', leaf), leaf],
    ] as const) {
      const extracted = extractVerifiers(intoto002(text));
      assert.ok(extracted.ok, JSON.stringify(extracted));
      assert.deepEqual(hex(extracted.verifiers), [want.toString('hex')]);
      assert.equal(extracted.unreadable, undefined);
      assert.deepEqual(kinds(await monitorAlerts([intoto002(text)], await ownedKms())), [
        'rogue-signature/CRITICAL',
      ]);
    }
  });

  it('control: a single block under another label is unparseable, as Rekor refuses it', async () => {
    const extracted = extractVerifiers(intoto002(pem('X509 CERTIFICATE', leaf)));
    assert.equal(extracted.ok, false);
  });

  it('control: the leaf labelled CERTIFICATE is rogue-signature for the key and for the identity', async () => {
    const body = intoto002(chain('CERTIFICATE'));
    assert.deepEqual(kinds(await monitorAlerts([body], await ownedKms())), ['rogue-signature/CRITICAL']);
    assert.deepEqual(kinds(await monitorAlerts([body], await ownedWorkflow())), ['rogue-signature/CRITICAL']);
  });

  for (const label of ['X509 CERTIFICATE', 'TRUSTED CERTIFICATE', 'FOO', 'PUBLIC KEY']) {
    it(`the leaf labelled "${label}" is read as a certificate, and rogue-signature`, async () => {
      const body = intoto002(chain(label));
      const extracted = extractVerifiers(body);
      assert.ok(extracted.ok, JSON.stringify(extracted));
      assert.deepEqual(hex(extracted.verifiers), [leaf.toString('hex'), caCert.toString('hex')]);
      assert.deepEqual(
        extracted.verifiers.map((v) => v.type),
        ['certificate', 'certificate'],
      );
      assert.equal(extracted.unreadable, undefined);
      assert.deepEqual(kinds(await monitorAlerts([body], await ownedKms())), ['rogue-signature/CRITICAL']);
      assert.deepEqual(kinds(await monitorAlerts([body], await ownedWorkflow())), [
        'rogue-signature/CRITICAL',
      ]);
    });
  }

  it('the leaf last, after blocks of other labels: still matched', async () => {
    const body = intoto002(pem('FOO', caCert) + pem('BAR', caCert) + pem('X509 CERTIFICATE', leaf));
    assert.deepEqual(kinds(await monitorAlerts([body], await ownedWorkflow())), ['rogue-signature/CRITICAL']);
  });

  it('a block of the chain that is no certificate is reported, and the leaf still matched', async () => {
    const body = intoto002(pem('FOO', Buffer.from('not a certificate')) + pem('X509 CERTIFICATE', leaf));
    const extracted = extractVerifiers(body);
    assert.ok(extracted.ok, JSON.stringify(extracted));
    assert.equal(extracted.verifiers.length, 2);
    assert.deepEqual(kinds(await monitorAlerts([body], await ownedKms())), [
      'entry-unparseable/MEDIUM',
      'rogue-signature/CRITICAL',
    ]);
  });

  it('a block of the chain that is not base64 is reported, never passed over', async () => {
    const bad = pem('FOO', caCert).replace('\n', '\n.');
    const body = intoto002(bad + pem('X509 CERTIFICATE', leaf) + pem('CERTIFICATE', caCert));
    const extracted = extractVerifiers(body);
    assert.ok(extracted.ok, JSON.stringify(extracted));
    assert.match(extracted.unreadable?.[0] ?? '', /FOO block is not base64/);
    assert.deepEqual(kinds(await monitorAlerts([body], await ownedKms())), [
      'entry-unparseable/MEDIUM',
      'rogue-signature/CRITICAL',
    ]);
  });

  it('an owned key (a SubjectPublicKeyInfo under PUBLIC KEY) before a certificate is still matched as a key', async () => {
    const body = intoto002(pem('PUBLIC KEY', spkiOf(kms.publicKey)) + pem('CERTIFICATE', caCert));
    const extracted = extractVerifiers(body);
    assert.ok(extracted.ok, JSON.stringify(extracted));
    assert.deepEqual(
      extracted.verifiers.map((v) => v.type),
      ['publicKey', 'certificate'],
    );
    assert.deepEqual(kinds(await monitorAlerts([body], await ownedKms())), ['rogue-signature/CRITICAL']);
  });
});
