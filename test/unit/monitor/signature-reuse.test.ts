/**
 * A signing record explains a log entry only when it is bound to it (signing-lookup.ts
 * recordMismatch): the entry's key is the key of the record's KMS key version, and the entry's
 * artifact is what the record signed. Found by the signature bytes alone, a record would explain an
 * entry that reuses one of sigsentry's signatures (public in the log) under a key computed for it:
 * for an ECDSA signature S and any digest, anyone can recover a public key under which S verifies
 * over that digest, put it in a self-made certificate naming an owned identity, and log it (Rekor
 * v1 checks a lone certificate's signature, not its chain).
 */
import assert from 'node:assert/strict';
import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
  X509Certificate,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { runMonitor } from '../../../functions/monitor-log/core.ts';
import { extractVerifiers } from '../../../functions/monitor-log/entry-verifiers.ts';
import { type OwnedIdentity, resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import {
  type SigningRecordRef,
  StaticSigningRecordLookup,
} from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { fulcioLikeCertificate, generalName } from './fulcio-like-cert.ts';
import { logServing, pemOf } from './key-entry-checks.ts';

const KEY_VERSION = 'projects/p/locations/global/keyRings/r/cryptoKeys/release/cryptoKeyVersions/1';
const OTHER_VERSION = 'projects/p/locations/global/keyRings/r/cryptoKeys/release/cryptoKeyVersions/2';
const SAN = 'https://github.com/example-org/app/.github/workflows/release.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';

const ours = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const spkiOf = (k: KeyObject) => k.export({ format: 'der', type: 'spki' });
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const pem = (label: string, der: Buffer) =>
  `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END ${label}-----\n`;

/** A hashedrekord 0.0.1 body: `signature` over `data`, verified with the PEM `verifier`. */
function hashedrekord(data: Buffer, signature: Buffer, verifier: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      apiVersion: '0.0.1',
      kind: 'hashedrekord',
      spec: {
        data: { hash: { algorithm: 'sha256', value: sha256(data) } },
        signature: {
          content: signature.toString('base64'),
          publicKey: { content: Buffer.from(verifier).toString('base64') },
        },
      },
    }),
  );
}

/** A self-made certificate naming the owned workflow identity, for the key `spki`. */
const forgedCertificate = (spki: Buffer) =>
  pem('CERTIFICATE', fulcioLikeCertificate({ spki, sans: [generalName.uri(SAN)], issuer: ISSUER }));

// ECDSA public-key recovery on P-256: a key under which a signature verifies over chosen data.
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;
const G = {
  x: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
  y: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
};
type Point = { x: bigint; y: bigint } | null;
const mod = (a: bigint, m: bigint) => ((a % m) + m) % m;
function pow(a: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  for (let b = mod(a, m); e > 0n; e >>= 1n, b = (b * b) % m) if (e & 1n) r = (r * b) % m;
  return r;
}
const inv = (a: bigint, m: bigint) => pow(a, m - 2n, m);
function add(p: Point, q: Point): Point {
  if (!p) return q;
  if (!q) return p;
  if (p.x === q.x && mod(p.y + q.y, P) === 0n) return null;
  const l =
    p.x === q.x
      ? mod(3n * p.x * p.x - 3n, P) * inv(2n * p.y, P)
      : mod(q.y - p.y, P) * inv(mod(q.x - p.x, P), P);
  const x = mod(l * l - p.x - q.x, P);
  return { x, y: mod(l * (p.x - x) - p.y, P) };
}
function mul(k: bigint, p: Point): Point {
  let r: Point = null;
  for (let q = p; k > 0n; k >>= 1n, q = add(q, q)) if (k & 1n) r = add(r, q);
  return r;
}
const int = (b: Buffer) => BigInt(`0x${b.toString('hex') || '0'}`);
function recoverKey(derSignature: Buffer, data: Buffer): KeyObject {
  const rLength = derSignature[3]!;
  const r = int(derSignature.subarray(4, 4 + rLength));
  const s = int(derSignature.subarray(6 + rLength, 6 + rLength + derSignature[5 + rLength]!));
  const R = { x: r, y: pow(mod(r ** 3n - 3n * r + B, P), (P + 1n) / 4n, P) };
  const e = mod(int(createHash('sha256').update(data).digest()), N);
  const Q = mul(inv(r, N), add(mul(s, R), mul(mod(-e, N), G)))!;
  const coordinate = (v: bigint) =>
    Buffer.from(v.toString(16).padStart(64, '0'), 'hex').toString('base64url');
  return createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: coordinate(Q.x), y: coordinate(Q.y) },
    format: 'jwk',
  });
}

/** One monitor run over `bodies` with `records`, the owned identities resolved with `kms`. */
async function run(
  bodies: Buffer[],
  records: StaticSigningRecordLookup,
  owned: OwnedIdentity[],
  kms: Record<string, string>,
) {
  const alerts = new MemoryAlertSink();
  const logger = createMemoryLogger();
  const result = await runMonitor({
    logs: [{ name: 'test', log: logServing(bodies), startIndex: 0 }],
    store: new MemoryMonitorStore(),
    alerts,
    records,
    identities: await resolveIdentities(owned, async (keyVersion) => kms[keyVersion]!),
    logger,
  });
  assert.equal(result.ok, true, JSON.stringify(result.logs));
  const rogue = alerts.raised.filter((a) => a.kind === 'rogue-signature').map((a) => a.evidence.logIndex);
  return { result: result.logs[0]!, rogue, alerts, logger };
}

const recordsOf = (...entries: Array<[Buffer, Partial<SigningRecordRef>]>) => {
  const records = new StaticSigningRecordLookup();
  for (const [signature, ref] of entries)
    records.add(signature, { image: 'reg/app@sha256:aa', keyVersion: KEY_VERSION, format: 'cosign', ...ref });
  return records;
};

describe('a signing record explains an entry only when it is bound to it', () => {
  it("reports a forged-certificate entry that reuses sigsentry's signature under a recovered key; sigsentry's own entry is not reported", async () => {
    const payload = Buffer.from('{"critical":{"image":{"docker-manifest-digest":"sha256:aa"}}}');
    const S = sign('sha256', payload, ours.privateKey);
    const evil = Buffer.from('malicious artifact');
    const recovered = recoverKey(S, evil);
    assert.ok(
      verify('sha256', evil, recovered, S),
      'S verifies over the chosen artifact under the recovered key',
    );
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const bodies = [
      hashedrekord(payload, S, pemOf(ours.publicKey)), // 0: sigsentry's
      hashedrekord(evil, S, forgedCertificate(spkiOf(recovered))), // 1: reuse of S
      hashedrekord(evil, sign('sha256', evil, other.privateKey), forgedCertificate(spkiOf(other.publicKey))), // 2
    ];
    const { result, rogue, logger } = await run(
      bodies,
      recordsOf([S, { signedBytes: payload }]),
      [
        { type: 'kms', keyVersion: KEY_VERSION },
        { type: 'certificate', san: SAN, issuer: ISSUER },
      ],
      { [KEY_VERSION]: pemOf(ours.publicKey) },
    );
    assert.equal(result.matched, 3);
    assert.deepEqual(rogue.sort(), [1, 2], 'the reuse of S is reported, as the fresh forgery is');
    const warning = logger.entries.find((e) => e.severity === 'WARNING' && e['logIndex'] === 1);
    assert.match(
      String(warning?.message),
      /does not explain it: the entry's key \(sha256:[0-9a-f]{64}\) is not the key of its key version/,
    );
  });

  it('a record whose key version is not an owned kms identity explains only an entry made with an owned key; one without signed bytes is bound by its key', async () => {
    const payload = Buffer.from('payload signed before records kept their bytes');
    const S = sign('sha256', payload, ours.privateKey);
    // The key version retired from KMS_KEY and listed as a PEM: the entry's key is owned, and no
    // one else signs under it, so sigsentry's record explains its entry.
    const retired = await run(
      [hashedrekord(payload, S, pemOf(ours.publicKey))],
      recordsOf([S, { signedBytes: payload }]),
      [{ type: 'publicKey', pem: pemOf(ours.publicKey) }],
      {},
    );
    assert.equal(retired.result.matched, 1);
    assert.deepEqual(retired.rogue, []);
    // Matched by a certificate's identity instead: which key made the record cannot be told.
    const byIdentity = await run(
      [hashedrekord(payload, S, forgedCertificate(spkiOf(ours.publicKey)))],
      recordsOf([S, { signedBytes: payload }]),
      [{ type: 'certificate', san: SAN, issuer: ISSUER }],
      {},
    );
    assert.deepEqual(byIdentity.rogue, [0], 'reported: the record cannot be tied to the key');
    assert.ok(
      byIdentity.logger.entries.some((e) => /is not an owned kms identity/.test(String(e.message))),
      'a WARNING says why the record did not explain the entry',
    );
    // A record without its signed bytes, of the owned key version: bound by the key alone.
    const keyed = await run(
      [hashedrekord(payload, S, pemOf(ours.publicKey))],
      recordsOf([S, {}]),
      [{ type: 'kms', keyVersion: KEY_VERSION }],
      { [KEY_VERSION]: pemOf(ours.publicKey) },
    );
    assert.deepEqual(keyed.rogue, []);
  });

  // Real public entries (test/fixtures/tlog/bundles) standing for sigsentry's: the certificate's key
  // plays the KMS key version's, the bundle's signed bytes the record's.
  const bundle = (file: string) => {
    const json = JSON.parse(readFileSync(`test/fixtures/tlog/bundles/${file}`, 'utf8')) as {
      verificationMaterial: { tlogEntries: Array<{ canonicalizedBody: string }> };
      dsseEnvelope?: { payloadType: string; payload: string };
    };
    const body = Buffer.from(json.verificationMaterial.tlogEntries[0]!.canonicalizedBody, 'base64');
    const extracted = extractVerifiers(body);
    assert.ok(extracted.ok);
    const [verifier] = extracted.verifiers;
    assert.equal(verifier?.type, 'certificate');
    const envelope = json.dsseEnvelope;
    const signedBytes = envelope
      ? pae(envelope.payloadType, Buffer.from(envelope.payload, 'base64'))
      : readFileSync('test/fixtures/tlog/bundles/bundles__artifact.txt');
    const key = new X509Certificate(verifier.der).publicKey
      .export({ format: 'pem', type: 'spki' })
      .toString();
    return { kind: extracted.kind, body, signature: verifier.signature!, signedBytes, key };
  };
  for (const file of [
    'bundles__bundle.sigstore',
    'tests_bundles_bundleV03-dsse.sigstore',
    'tests_bundles_bundleV03-intoto.sigstore',
  ]) {
    it(`real ${file}: explained by the record of its key version and signed bytes; not by one of other bytes or another key version`, async () => {
      const real = bundle(file);
      const owned: OwnedIdentity[] = [
        { type: 'kms', keyVersion: KEY_VERSION },
        { type: 'kms', keyVersion: OTHER_VERSION },
      ];
      const kms = { [KEY_VERSION]: real.key, [OTHER_VERSION]: pemOf(ours.publicKey) };
      const format = real.kind === 'hashedrekord' ? 'cosign' : 'bundle';
      const own = await run(
        [real.body],
        recordsOf([real.signature, { format, signedBytes: real.signedBytes }]),
        owned,
        kms,
      );
      assert.equal(own.result.matched, 1, real.kind);
      assert.deepEqual(own.rogue, [], `${real.kind}: sigsentry's own entry is not reported`);

      const otherBytes =
        real.kind === 'hashedrekord' ? Buffer.from('another artifact') : pae('x', Buffer.from('{}'));
      const otherArtifact = await run(
        [real.body],
        recordsOf([real.signature, { format, signedBytes: otherBytes }]),
        owned,
        kms,
      );
      assert.deepEqual(otherArtifact.rogue, [0], `${real.kind}: the record signed another artifact`);
      assert.ok(
        otherArtifact.logger.entries.some((e) => /is not what the record signed/.test(String(e.message))),
      );

      const otherKey = await run(
        [real.body],
        recordsOf([real.signature, { format, keyVersion: OTHER_VERSION }]),
        owned,
        kms,
      );
      assert.deepEqual(otherKey.rogue, [0], `${real.kind}: the record's key version has another key`);
    });
  }

  it('reads the payload out of a DSSE PAE, and nothing out of what is not one', async () => {
    // Imported here, so that the tests above run (and fail) on code without it.
    const { paePayload } = await import('../../../functions/signing/dsse-pae.ts');
    const payload = Buffer.from('{"a": "b c"}');
    assert.deepEqual(paePayload(pae('application/vnd.in-toto+json', payload)), payload);
    assert.deepEqual(paePayload(pae('', Buffer.alloc(0))), Buffer.alloc(0));
    for (const bad of [
      'DSSEv1 3 abc 2 x',
      'DSSEv1 3 abc 1 xy',
      'DSSEv2 1 a 1 b',
      'DSSEv1 01 a 1 b',
      'payload',
    ])
      assert.equal(paePayload(Buffer.from(bad)), undefined, bad);
  });
});

/** DSSE's pre-authentication encoding of `payload` of `type`: what a DSSE signature signs. */
function pae(type: string, payload: Buffer): Buffer {
  const t = Buffer.from(type);
  return Buffer.concat([Buffer.from(`DSSEv1 ${t.length} `), t, Buffer.from(` ${payload.length} `), payload]);
}
