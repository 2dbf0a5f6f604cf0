/**
 * An owned key whose SubjectPublicKeyInfo BIT STRING declares 1..7 unused bits, the key bytes shifted
 * left by as many, is the same key to Go's crypto/x509 (Rekor v1, rekor-tiles, sigstore-go):
 * parsePublicKey reads `keyData.PublicKey.RightAlign()`. Rekor keeps such bytes as submitted (v2 keys,
 * every certificate, intoto 0.0.2 keys), so a signature by a stolen owned key written this way must be
 * a rogue-signature, not pass unnoticed. What Go's BIT STRING readers refuse (a count over 7, non-zero
 * padding bits) is an unreadable entry, never a silent skip.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import { canonicalSpki } from '../../../functions/monitor-log/canonical-spki.ts';
import { DerError, encodeTlv as tlv } from '../../../functions/monitor-log/der.ts';
import { type ResolvedIdentity, resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import { pemSpki, UnreadableKey } from '../../../functions/monitor-log/raw-key-spki.ts';
import { fulcioLikeCertificate } from './fulcio-like-cert.ts';
import { pem } from './hand-built-cert.ts';
import { b64, matches, monitorAlerts } from './key-entry-checks.ts';
import { canShiftKey, withUnusedBits, withUnusedBitsCount } from './spki-variants.ts';

const KEY_VERSION = 'projects/p/locations/global/keyRings/r/cryptoKeys/release/cryptoKeyVersions/1';
const spkiOf = (k: KeyObject) => k.export({ format: 'der', type: 'spki' });
const pemOf = (k: KeyObject) => k.export({ format: 'pem', type: 'spki' }).toString();
const kinds = (a: { raised: Array<{ kind: string; severity: string }> }) =>
  a.raised.map((x) => `${x.kind}/${x.severity}`).sort();
const ROGUE = ['rogue-signature/CRITICAL'];
const UNPARSEABLE = ['entry-unparseable/MEDIUM'];

const kms = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ownedKms = () =>
  resolveIdentities([{ type: 'kms', keyVersion: KEY_VERSION }], async () => pemOf(kms.publicKey));
const ownedKey = (key: KeyObject) =>
  resolveIdentities([{ type: 'publicKey', pem: pemOf(key) }], () => Promise.reject(new Error('no KMS')));

const artifact = Buffer.from('evil artifact');
const digest = createHash('sha256').update(artifact).digest();

const v2HashedRekordKey = (spki: Buffer, signature: Buffer, keyDetails = 'PKIX_ECDSA_P256_SHA_256') =>
  Buffer.from(
    JSON.stringify({
      apiVersion: '0.0.2',
      kind: 'hashedrekord',
      spec: {
        hashedRekordV002: {
          data: { algorithm: 'SHA2_256', digest: b64(digest) },
          signature: {
            content: b64(signature),
            verifier: { keyDetails, publicKey: { rawBytes: b64(spki) } },
          },
        },
      },
    }),
  );
const v2DsseCert = (cert: Buffer, signature: Buffer) =>
  Buffer.from(
    JSON.stringify({
      apiVersion: '0.0.2',
      kind: 'dsse',
      spec: {
        dsseV002: {
          payloadHash: { algorithm: 'SHA2_256', digest: b64(digest) },
          signatures: [
            {
              content: b64(signature),
              verifier: { keyDetails: 'PKIX_ECDSA_P256_SHA_256', x509Certificate: { rawBytes: b64(cert) } },
            },
          ],
        },
      },
    }),
  );
const v1HashedRekord = (verifierPem: string, signature: Buffer) =>
  Buffer.from(
    JSON.stringify({
      apiVersion: '0.0.1',
      kind: 'hashedrekord',
      spec: {
        data: { hash: { algorithm: 'sha256', value: digest.toString('hex') } },
        signature: { content: b64(signature), publicKey: { content: b64(verifierPem) } },
      },
    }),
  );
const intoto002 = (publicKeyPem: string, signature: Buffer) =>
  Buffer.from(
    JSON.stringify({
      apiVersion: '0.0.2',
      kind: 'intoto',
      spec: {
        content: {
          envelope: {
            payloadType: 'application/vnd.in-toto+json',
            signatures: [{ publicKey: b64(publicKeyPem), sig: b64(b64(signature)) }],
          },
          hash: { algorithm: 'sha256', value: '00'.repeat(32) },
          payloadHash: { algorithm: 'sha256', value: digest.toString('hex') },
        },
      },
    }),
  );

/** Every entry shape Rekor keeps the key bytes of as submitted, for one SPKI encoding of the key. */
const entries = (spki: Buffer, signature: Buffer): Record<string, Buffer> => ({
  'v2 hashedrekord publicKey.rawBytes': v2HashedRekordKey(spki, signature),
  'v2 dsse x509Certificate (certificate holding the key)': v2DsseCert(
    fulcioLikeCertificate({ spki }),
    signature,
  ),
  'v1 hashedrekord CERTIFICATE (certificate holding the key)': v1HashedRekord(
    pem('CERTIFICATE', fulcioLikeCertificate({ spki })),
    signature,
  ),
  'v1 intoto 0.0.2 PUBLIC KEY (kept as submitted)': intoto002(pem('PUBLIC KEY', spki), signature),
});

async function alertKinds(body: Buffer, identities: ResolvedIdentity[]): Promise<string[]> {
  return kinds(await monitorAlerts([body], identities));
}

describe('owned P-256 key with BIT STRING unused bits (Go RightAlign) is the owned key', () => {
  const signature = sign('sha256', artifact, kms.privateKey);
  const spki = spkiOf(kms.publicKey);
  for (const n of [0, 1, 2, 3, 4, 5]) {
    const der = n === 0 ? spki : withUnusedBits(spki, n);
    for (const [name, body] of Object.entries(entries(der, signature))) {
      it(`${n} unused bits: ${name} is a rogue-signature`, async () => {
        assert.deepEqual(await alertKinds(body, await ownedKms()), ROGUE);
      });
    }
  }

  it('another P-256 key in the same encodings is not matched (nothing raised)', async () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const sig = sign('sha256', artifact, other.privateKey);
    for (const n of [1, 3, 5]) {
      for (const [name, body] of Object.entries(entries(withUnusedBits(spkiOf(other.publicKey), n), sig))) {
        assert.deepEqual(await alertKinds(body, await ownedKms()), [], `${n}: ${name}`);
      }
    }
  });
});

describe('Ed25519 and RSA owned keys with unused bits', () => {
  it('Ed25519 (first key byte < 0x80), 1 unused bit: rogue-signature, as a key and in a certificate', async () => {
    let ed = generateKeyPairSync('ed25519');
    while (!canShiftKey(spkiOf(ed.publicKey), 1)) ed = generateKeyPairSync('ed25519');
    const der = withUnusedBits(spkiOf(ed.publicKey), 1);
    const signature = sign(null, artifact, ed.privateKey);
    const ids = await ownedKey(ed.publicKey);
    assert.deepEqual(await alertKinds(v2HashedRekordKey(der, signature, 'PKIX_ED25519'), ids), ROGUE);
    const cert = pem('CERTIFICATE', fulcioLikeCertificate({ spki: der }));
    assert.deepEqual(await alertKinds(v1HashedRekord(cert, signature), ids), ROGUE);
  });

  it('RSA, 1 and 2 unused bits: rogue-signature (was only entry-unparseable)', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const signature = sign('sha256', artifact, rsa.privateKey);
    const ids = await ownedKey(rsa.publicKey);
    for (const n of [1, 2]) {
      const der = withUnusedBits(spkiOf(rsa.publicKey), n);
      const body = v2HashedRekordKey(der, signature, 'PKIX_RSA_PKCS1V15_2048_SHA256');
      assert.deepEqual(await alertKinds(body, ids), ROGUE, `${n} unused bits`);
      const cert = pem('CERTIFICATE', fulcioLikeCertificate({ spki: der }));
      assert.deepEqual(await alertKinds(v1HashedRekord(cert, signature), ids), ROGUE, `${n}, certificate`);
    }
  });

  it('a TUF root key PEM after many unterminated BEGIN lines is read as Go decodes it (the first END, the last BEGIN before it)', () => {
    // A review found the fallback's regular expression quadratic in such a keyval (seconds of a
    // run's CPU for a few hundred KB); the reading is two linear searches now.
    const der = withUnusedBits(spkiOf(kms.publicKey), 2);
    const hostile = '-----BEGIN A-----\n'.repeat(20_000) + pem('PUBLIC KEY', der);
    assert.deepEqual(pemSpki(hostile, 'tuf root key k'), spkiOf(kms.publicKey));
    assert.throws(() => pemSpki('-----BEGIN A-----\n'.repeat(20_000), 'tuf root key k'), UnreadableKey);
  });

  it('a TUF root key given as PEM with unused bits (Go: ParsePKIXPublicKey) matches', async () => {
    const der = withUnusedBits(spkiOf(kms.publicKey), 2);
    assert.deepEqual(pemSpki(pem('PUBLIC KEY', der), 'tuf root key k'), spkiOf(kms.publicKey));
    const root = {
      signatures: [],
      signed: {
        _type: 'root',
        roles: {},
        keys: { k: { keytype: 'ecdsa', keyval: { public: pem('PUBLIC KEY', der) } } },
      },
    };
    const body = Buffer.from(
      JSON.stringify({
        apiVersion: '0.0.1',
        kind: 'tuf',
        spec: {
          spec_version: '1.0',
          root: { content: b64(JSON.stringify(root)) },
          metadata: { content: root },
        },
      }),
    );
    assert.equal(matches(body, await ownedKms()), 1);
  });
});

describe('BIT STRINGs Go refuses are reported unreadable, never skipped', () => {
  const signature = sign('sha256', artifact, kms.privateKey);
  const spki = spkiOf(kms.publicKey);
  const paddingSet = (der: Buffer) => {
    const out = Buffer.from(der);
    out[out.length - 1]! |= 1;
    return out;
  };
  const refused: Record<string, Buffer> = {
    '8 unused bits': withUnusedBitsCount(spki, 8),
    '255 unused bits': withUnusedBitsCount(spki, 255),
    '1 unused bit, padding bit set': paddingSet(withUnusedBits(spki, 1)),
    '5 unused bits, padding bit set': paddingSet(withUnusedBits(spki, 5)),
  };
  for (const [what, der] of Object.entries(refused)) {
    for (const [name, body] of Object.entries(entries(der, signature))) {
      it(`${what}: ${name} is entry-unparseable`, async () => {
        assert.deepEqual(await alertKinds(body, await ownedKms()), UNPARSEABLE);
      });
    }
  }

  it('canonicalSpki refuses them (and a count on an empty key) with DerError', () => {
    const ed = spkiOf(generateKeyPairSync('ed25519').publicKey);
    const emptyWithCount = tlv(0x30, ed.subarray(2, 9), tlv(0x03, Buffer.from([3])));
    for (const der of [...Object.values(refused), emptyWithCount]) {
      assert.throws(() => canonicalSpki(der), DerError);
    }
  });
});

describe('right-alignment is exactly Go asn1.BitString.RightAlign', () => {
  // Go's own vectors (encoding/asn1 asn1_test.go bitStringRightAlignTests): bytes, bit length, aligned.
  const ED25519_ALGORITHM = Buffer.from('300506032b6570', 'hex');
  const spkiWith = (unused: number, key: number[]) =>
    tlv(0x30, ED25519_ALGORITHM, tlv(0x03, Buffer.from([unused]), Buffer.from(key)));
  const vectors: Array<[number[], number, number[]]> = [
    [[0x80], 1, [0x01]],
    [[0x80, 0x80], 9, [0x01, 0x01]],
    [[0xce], 8, [0xce]],
    [[0xce, 0x47], 16, [0xce, 0x47]],
    [[0x34, 0x50], 12, [0x03, 0x45]],
  ];
  for (const [bytes, bitLength, aligned] of vectors) {
    it(`${Buffer.from(bytes).toString('hex')} (${bitLength} bits) -> ${Buffer.from(aligned).toString('hex')}`, () => {
      const unused = bytes.length * 8 - bitLength;
      assert.deepEqual(canonicalSpki(spkiWith(unused, bytes)), spkiWith(0, aligned));
    });
  }

  it('every shift of every key type gives back the canonical SPKI', () => {
    const keys = [
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
      generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey,
      generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey,
      ...Array.from({ length: 8 }, () => generateKeyPairSync('ed25519').publicKey),
    ];
    let shifted = 0;
    for (const key of keys) {
      const spki = spkiOf(key);
      for (let n = 1; n <= 7; n++) {
        if (!canShiftKey(spki, n)) continue;
        assert.deepEqual(canonicalSpki(withUnusedBits(spki, n)), spki);
        shifted++;
      }
    }
    assert.ok(shifted >= 12);
  });
});
