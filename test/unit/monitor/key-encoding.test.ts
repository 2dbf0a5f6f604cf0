/**
 * An owned key is matched however the entry encodes it: Rekor keeps keys and certificates as
 * submitted, and Go's parsers accept elements appended inside the SubjectPublicKeyInfo and a key
 * BIT STRING with unused bits (spki-variants.ts). A key that cannot be walked is reported, not
 * passed over (key-encoding-unused-bits.test.ts for the BIT STRING rules).
 */
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { runMonitor } from '../../../functions/monitor-log/core.ts';
import { DerError } from '../../../functions/monitor-log/der.ts';
import type { ExtractedVerifier } from '../../../functions/monitor-log/entry-verifiers.ts';
import { type OwnedIdentity, resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import type { MonitoredLog } from '../../../functions/monitor-log/log-source.ts';
import { IdentityMatcher } from '../../../functions/monitor-log/matcher.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { parseCheckpointBody } from '../../../functions/tlog/checkpoint/checkpoint.ts';
import { unrelatedIdentity } from '../../helpers/unrelated-identity.ts';
import { fulcioLikeCertificate } from './fulcio-like-cert.ts';
import {
  canShiftKey,
  withAlgorithmTrailingElement,
  withLongFormLength,
  withRsaKeyTrailingElement,
  withTrailingElement,
  withUnusedBits,
} from './spki-variants.ts';

const noKms = () => Promise.reject(new Error('no KMS'));
const spkiOf = (key: KeyObject) => key.export({ format: 'der', type: 'spki' });
const pemOf = (key: KeyObject) => key.export({ format: 'pem', type: 'spki' }) as string;

const keyTypes = {
  'EC P-256': () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
  'EC P-384': () => generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey,
  RSA: () => generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey,
  Ed25519: () => generateKeyPairSync('ed25519').publicKey,
};

/** Every encoding of `spki` Go accepts as the same key (plus a long-form length). */
function encodings(spki: Buffer, type: string): Record<string, Buffer> {
  return {
    canonical: spki,
    'SPKI + trailing element': withTrailingElement(spki),
    'long-form length': withLongFormLength(spki),
    ...(type === 'Ed25519'
      ? {}
      : { 'AlgorithmIdentifier + trailing element': withAlgorithmTrailingElement(spki) }),
    ...(type === 'RSA' ? { 'RSAPublicKey + trailing element': withRsaKeyTrailingElement(spki) } : {}),
    // Go right-aligns a BIT STRING with unused bits (EC 0x04: n <= 5; RSA 0x30: n <= 2; Ed25519: by key).
    ...Object.fromEntries(
      [1, 2, 3, 4, 5, 6, 7]
        .filter((n) => canShiftKey(spki, n))
        .map((n) => [`${n} unused bits, key shifted`, withUnusedBits(spki, n)]),
    ),
  };
}

async function matcherFor(...owned: OwnedIdentity[]): Promise<IdentityMatcher> {
  return new IdentityMatcher(await resolveIdentities(owned, noKms));
}
const matched = (m: IdentityMatcher, v: ExtractedVerifier) => m.match(v).map((x) => x.identity.description);

describe('owned keys matched by key, not by the bytes of its encoding', () => {
  for (const [type, generate] of Object.entries(keyTypes)) {
    it(`${type}: every encoding, as a key and inside a certificate; not another ${type} key`, async () => {
      const owned = generate();
      const spki = spkiOf(owned);
      const matcher = await matcherFor(
        { type: 'publicKey', pem: pemOf(owned), name: 'by-pem' },
        // The fingerprint a user computes: SHA-256 of the canonical DER (openssl, rekor-monitor).
        { type: 'publicKey', sha256: createHash('sha256').update(spki).digest('hex'), name: 'by-sha256' },
      );
      for (const [name, der] of Object.entries(encodings(spki, type))) {
        assert.deepEqual(matched(matcher, { type: 'publicKey', der }), ['by-pem', 'by-sha256'], name);
        const cert = fulcioLikeCertificate({ spki: der });
        assert.deepEqual(matched(matcher, { type: 'certificate', der: cert }), ['by-pem', 'by-sha256'], name);
      }
      const other = spkiOf(generate());
      for (const [name, der] of Object.entries(encodings(other, type))) {
        assert.deepEqual(matched(matcher, { type: 'publicKey', der }), [], `other key, ${name}`);
        const cert = fulcioLikeCertificate({ spki: der });
        assert.deepEqual(matched(matcher, { type: 'certificate', der: cert }), [], `other key, ${name}`);
      }
    });
  }

  it('an owned EC key given with a compressed point matches the uncompressed one Rekor takes', async () => {
    const owned = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const spki = spkiOf(owned);
    const { x, y } = owned.export({ format: 'jwk' });
    const yOdd = Buffer.from(y!, 'base64url').at(-1)! & 1;
    const point = Buffer.concat([Buffer.from([2 + yOdd]), Buffer.from(x!, 'base64url')]);
    // The canonical SPKI's AlgorithmIdentifier, with the compressed point as the key.
    const algorithm = spki.subarray(2, 2 + 2 + spki[3]!);
    const body = Buffer.concat([algorithm, Buffer.from([0x03, point.length + 1, 0]), point]);
    const compressed = createPublicKey({
      key: Buffer.concat([Buffer.from([0x30, body.length]), body]),
      format: 'der',
      type: 'spki',
    });
    const matcher = await matcherFor({ type: 'publicKey', pem: pemOf(compressed), name: 'owned' });
    assert.deepEqual(matched(matcher, { type: 'publicKey', der: spki }), ['owned']);
  });

  it('a key that is not a SubjectPublicKeyInfo throws DerError (the entry is reported)', async () => {
    const matcher = await matcherFor({ type: 'publicKey', pem: pemOf(keyTypes.RSA()) });
    const rsa = spkiOf(keyTypes.RSA());
    const pkcs1 = createPublicKey({ key: rsa, format: 'der', type: 'spki' }).export({
      format: 'der',
      type: 'pkcs1',
    });
    for (const der of [Buffer.from('not DER'), pkcs1, rsa.subarray(0, rsa.length - 1)]) {
      assert.throws(() => matcher.match({ type: 'publicKey', der }), DerError);
    }
  });

  it('a scan raises entry-unparseable for an entry whose key cannot be walked', async () => {
    const garbage = `-----BEGIN PUBLIC KEY-----\n${Buffer.from('not a key').toString('base64')}\n-----END PUBLIC KEY-----\n`;
    const body = Buffer.from(
      JSON.stringify({
        apiVersion: '0.0.1',
        kind: 'hashedrekord',
        spec: {
          data: { hash: { algorithm: 'sha256', value: '00'.repeat(32) } },
          signature: { content: 'AA==', publicKey: { content: Buffer.from(garbage).toString('base64') } },
        },
      }),
    );
    const head = { ...parseCheckpointBody(`test\n1\n${Buffer.alloc(32).toString('base64')}\n`), note: 'n' };
    const log: MonitoredLog = {
      url: 'http://log.test',
      getCheckpoint: async () => head,
      verifyConsistency: async () => {},
      readEntries: async (start, end) => (start < 1 && end >= 1 ? [{ logIndex: 0, body }] : []),
    };
    const alerts = new MemoryAlertSink();
    const result = await runMonitor({
      logs: [{ name: 'test', log, startIndex: 0 }],
      store: new MemoryMonitorStore(),
      alerts,
      records: new StaticSigningRecordLookup(),
      identities: await unrelatedIdentity(),
      logger: createMemoryLogger(),
    });
    assert.equal(result.ok, true);
    const [alert] = alerts.ofKind('entry-unparseable');
    assert.equal(alert?.evidence.logIndex, 0);
    assert.match(String(alert?.evidence.verifierOutput), /public key/);
  });
});
