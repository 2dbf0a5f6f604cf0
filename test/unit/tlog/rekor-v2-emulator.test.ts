import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DSSEBundleBuilder, MessageSignatureBundleBuilder, RekorWitness, type Signer } from '@sigstore/sign';
import { type TrustMaterial, toSignedEntity, Verifier } from '@sigstore/verify';
import { type RekorServer, startRekorServer } from '../../../emulators/rekor/server.ts';
import { RekorV2Client, verifyRekorV2Checkpoint } from '../../../functions/tlog/client/index.ts';
import { hashLeaf, rootFromLeafHashes } from '../../../functions/tlog/merkle/index.ts';
import {
  encodeTileIndex,
  entryBundlePath,
  parseEntryBundle,
  parseTilePath,
  tilePath,
} from '../../../functions/tlog/tiles/index.ts';
import { selfSignedCertificate, toPem } from '../../helpers/test-cert.ts';

const signingKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const certDer = selfSignedCertificate(signingKey.publicKey, signingKey.privateKey);
const spkiDer = signingKey.publicKey.export({ format: 'der', type: 'spki' });
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

/** sigstore-js sends the signer's material as `x509Certificate` to v2, so the signer holds a certificate. */
const certSigner: Signer = {
  sign: async (data) => ({
    signature: sign('sha256', data, signingKey.privateKey),
    key: { $case: 'x509Certificate', certificate: toPem(certDer) },
  }),
};

function hashedRekordRequest(data: Buffer, verifier?: Record<string, unknown>): Record<string, unknown> {
  return {
    hashedRekordRequestV002: {
      digest: b64(createHash('sha256').update(data).digest()),
      signature: {
        content: b64(sign('sha256', data, signingKey.privateKey)),
        verifier: verifier ?? {
          publicKey: { rawBytes: b64(spkiDer) },
          keyDetails: 'PKIX_ECDSA_P256_SHA_256',
        },
      },
    },
  };
}

const post = (url: string, body: unknown): Promise<Response> =>
  fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

/** The emulator's v2 log as a trust root names it: key ID of (origin, key), base URL holding the origin. */
function trustMaterial(server: RekorServer, logKeyPem = server.v2PublicKeyPem): TrustMaterial {
  const forever = { start: new Date(0), end: new Date(8.64e15) };
  return {
    certificateAuthorities: [],
    timestampAuthorities: [],
    ctlogs: [],
    tlogs: [
      {
        logID: server.v2LogId,
        baseURL: server.url,
        publicKey: createPublicKey(logKeyPem),
        validFor: forever,
      },
    ],
    publicKey: () => ({ publicKey: signingKey.publicKey, validFor: () => true }),
  };
}

describe('Rekor v2 emulator: create entry', () => {
  let dir: string;
  let server: RekorServer;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rekor-v2-'));
    server = await startRekorServer({ dataDir: dir });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('RekorWitness (majorApiVersion 2) produces a bundle @sigstore/verify accepts with the v2 key', async () => {
    const builder = new MessageSignatureBundleBuilder({
      signer: certSigner,
      witnesses: [new RekorWitness({ rekorBaseURL: server.url, majorApiVersion: 2 })],
    });
    const artifact = Buffer.from('an artifact for rekor v2');
    const bundle = await builder.create({ data: artifact });
    const entry = bundle.verificationMaterial.tlogEntries[0]!;
    assert.deepEqual(entry.kindVersion, { kind: 'hashedrekord', version: '0.0.2' });
    assert.equal(entry.inclusionPromise, undefined); // no SET in v2
    assert.ok(entry.logId.keyId.equals(server.v2LogId));
    assert.ok(entry.inclusionProof?.checkpoint?.envelope.startsWith(`${server.v2Origin}\n`));
    // v2 gives no signed time, so without a TSA the signing key is trusted directly (public-key
    // hint) rather than through a certificate chain; the tlog entry is checked in full either way.
    const entity = {
      ...toSignedEntity(bundle, artifact),
      key: { $case: 'public-key' as const, hint: 'test' },
    };
    const options = { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 0 };
    new Verifier(trustMaterial(server), options).verify(entity);
    const otherKey = generateKeyPairSync('ed25519')
      .publicKey.export({ format: 'pem', type: 'spki' })
      .toString();
    assert.throws(() => new Verifier(trustMaterial(server, otherKey), options).verify(entity));
    assert.throws(() => new Verifier(trustMaterial(server), options).verify({ ...entity, tlogEntries: [] }));
    // The entry verifies with sigsentry's own client too.
    new RekorV2Client({ baseUrl: server.url, logKey: server.v2PublicKeyPem }).verifyEntry({
      logIndex: Number(entry.logIndex),
      logId: entry.logId.keyId,
      kindVersion: entry.kindVersion!,
      integratedTime: undefined,
      canonicalizedBody: entry.canonicalizedBody,
      inclusionProof: {
        logIndex: Number(entry.inclusionProof!.logIndex),
        treeSize: Number(entry.inclusionProof!.treeSize),
        rootHash: entry.inclusionProof!.rootHash,
        hashes: entry.inclusionProof!.hashes,
        checkpoint: entry.inclusionProof!.checkpoint!.envelope,
      },
    });
  });

  it('rejects DSSE requests as the public v2 log does since 2026, with the grpc-gateway error shape', async () => {
    const res = await post(`${server.url}/api/v2/log/entries`, {
      dsseRequestV002: {
        envelope: { payload: 'e30=', payloadType: 'application/json', signatures: [] },
        verifiers: [],
      },
    });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), {
      code: 3,
      message: 'invalid type, must be hashedrekord',
      details: [],
    });
    const builder = new DSSEBundleBuilder({
      signer: certSigner,
      witnesses: [new RekorWitness({ rekorBaseURL: server.url, majorApiVersion: 2 })],
    });
    await assert.rejects(builder.create({ data: Buffer.from('{}'), type: 'application/json' }));
  });

  it('rejects invalid hashedrekord requests with code 3', async () => {
    const badSig = hashedRekordRequest(Buffer.from('x')) as { hashedRekordRequestV002: { digest: string } };
    badSig.hashedRekordRequestV002.digest = b64(createHash('sha256').update('y').digest());
    const cases: unknown[] = [
      badSig,
      // A bare public key where a certificate is named (what x509.ParseCertificate refuses).
      hashedRekordRequest(Buffer.from('x'), {
        x509Certificate: { rawBytes: b64(spkiDer) },
        keyDetails: 'PKIX_ECDSA_P256_SHA_256',
      }),
      // Key details that do not match the key.
      hashedRekordRequest(Buffer.from('x'), {
        publicKey: { rawBytes: b64(spkiDer) },
        keyDetails: 'PKIX_ECDSA_P384_SHA_384',
      }),
      { hashedRekordRequestV002: { digest: 'AA==' } },
    ];
    for (const body of cases) {
      const res = await post(`${server.url}/api/v2/log/entries`, body);
      assert.equal(res.status, 400);
      assert.deepEqual(await res.json(), { code: 3, message: 'invalid hashedrekord request', details: [] });
    }
    const unknown = await post(`${server.url}/api/v2/log/entries`, {
      ...hashedRekordRequest(Buffer.from('z')),
      extra: 1,
    });
    assert.equal(unknown.status, 400);
    assert.equal(((await unknown.json()) as { code: number }).code, 3);
  });

  it('answers a duplicate with 409 AlreadyExists and its index in x-log-index', async () => {
    const request = hashedRekordRequest(Buffer.from('dup'));
    const first = await post(`${server.url}/api/v2/log/entries`, request);
    assert.equal(first.status, 201);
    const created = (await first.json()) as { logIndex: string };
    const second = await post(`${server.url}/api/v2/log/entries`, request);
    assert.equal(second.status, 409);
    assert.equal(second.headers.get('x-log-index'), created.logIndex);
    assert.deepEqual(await second.json(), {
      code: 6,
      message: `an equivalent entry already exists in the transparency log with index ${created.logIndex}`,
      details: [],
    });
  });

  it('keeps v1 and v2 apart: separate trees, separate keys', async () => {
    const v1 = (await (await fetch(`${server.url}/api/v1/log`)).json()) as { treeSize: number };
    const v2 = verifyRekorV2Checkpoint(
      await (await fetch(`${server.url}/checkpoint`)).text(),
      server.v2PublicKeyPem,
      server.v2Origin,
    );
    assert.equal(v1.treeSize, 0);
    assert.ok(v2.size > 0);
    assert.equal(createPublicKey(server.v2PublicKeyPem).asymmetricKeyType, 'ed25519');
    assert.equal(createPublicKey(server.publicKeyPem).asymmetricKeyType, 'ec');
  });
});

describe('Rekor v2 emulator: tlog-tiles read API', () => {
  let dir: string;
  let server: RekorServer;
  const bodies: Buffer[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rekor-v2-tiles-'));
    server = await startRekorServer({ dataDir: dir });
    for (let i = 0; i < 260; i++) {
      const res = await post(
        `${server.url}/api/v2/log/entries`,
        hashedRekordRequest(Buffer.from(`tile ${i}`)),
      );
      assert.equal(res.status, 201);
      bodies.push(
        Buffer.from(((await res.json()) as { canonicalizedBody: string }).canonicalizedBody, 'base64'),
      );
    }
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = async (path: string): Promise<Response> => fetch(`${server.url}/${path}`);
  const bytesOf = async (path: string): Promise<Buffer> => {
    const res = await get(path);
    assert.equal(res.status, 200, path);
    return Buffer.from(await res.arrayBuffer());
  };
  const leaves = (from: number, to: number): Buffer =>
    Buffer.concat(bodies.slice(from, to).map((b) => hashLeaf(b)));

  it('encodes tile indexes as C2SP paths and accepts only canonical ones', () => {
    assert.equal(encodeTileIndex(1234067), 'x001/x234/067');
    assert.equal(encodeTileIndex(5), '005');
    assert.equal(tilePath(1, 1000, 17), 'tile/1/x001/000.p/17');
    assert.equal(entryBundlePath(2), 'tile/entries/002');
    assert.deepEqual(parseTilePath('tile/0/x001/x234/067.p/3'), {
      kind: 'hashes',
      level: 0,
      index: 1234067,
      width: 3,
    });
    assert.deepEqual(parseTilePath('tile/entries/000'), { kind: 'entries', index: 0, width: 256 });
    for (const bad of [
      'tile/0/x000/005',
      'tile/00/000',
      'tile/0/5',
      'tile/0/000.p/256',
      'tile/0/000.p/0',
      'tile/0/000.p/07',
    ]) {
      assert.equal(parseTilePath(bad), undefined, bad);
    }
  });

  it('serves full and partial hash tiles that match the tree', async () => {
    const cp = verifyRekorV2Checkpoint(
      await (await get('checkpoint')).text(),
      server.v2PublicKeyPem,
      server.v2Origin,
    );
    assert.equal(cp.size, 260);
    assert.ok(Buffer.from(rootFromLeafHashes(bodies.map((b) => hashLeaf(b)))).equals(cp.rootHash));
    const full = await get('tile/0/000');
    assert.equal(full.headers.get('content-type'), 'application/octet-stream');
    assert.match(full.headers.get('cache-control') ?? '', /immutable/);
    assert.ok(Buffer.from(await full.arrayBuffer()).equals(leaves(0, 256)));
    assert.ok((await bytesOf('tile/0/001.p/4')).equals(leaves(256, 260)));
    assert.ok((await bytesOf('tile/0/001.p/2')).equals(leaves(256, 258))); // an earlier size's partial
    const level1 = await bytesOf('tile/1/000.p/1');
    assert.ok(level1.equals(Buffer.from(rootFromLeafHashes(bodies.slice(0, 256).map((b) => hashLeaf(b))))));
    assert.ok((await bytesOf('api/v2/tile/0/001.p/4')).equals(leaves(256, 260)));
    for (const missing of [
      'tile/0/001',
      'tile/0/001.p/5',
      'tile/1/000',
      'tile/2/000.p/1',
      'tile/0/x000/001',
    ]) {
      assert.equal((await get(missing)).status, 404, missing);
    }
  });

  it('serves entry bundles holding the canonicalized bodies, full and partial', async () => {
    const full = parseEntryBundle(await bytesOf('tile/entries/000'));
    assert.equal(full.length, 256);
    for (const [i, body] of full.entries()) assert.ok(body.equals(bodies[i]!));
    const partial = parseEntryBundle(await bytesOf('tile/entries/001.p/4'));
    assert.deepEqual(partial, bodies.slice(256, 260));
    assert.equal((await get('tile/entries/001')).status, 404);
    const checkpoint = await get('checkpoint');
    assert.equal(checkpoint.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(await checkpoint.text(), await (await get('api/v2/checkpoint')).text());
  });
});

describe('Rekor v2 emulator: persistence', () => {
  it('survives a restart: same key, size and root; tiles unchanged; appends continue consistently', async () => {
    const d = mkdtempSync(join(tmpdir(), 'rekor-v2-restart-'));
    try {
      const s1 = await startRekorServer({ dataDir: d });
      const requests = [0, 1, 2, 3, 4].map((i) => hashedRekordRequest(Buffer.from(`r${i}`)));
      for (const r of requests) assert.equal((await post(`${s1.url}/api/v2/log/entries`, r)).status, 201);
      const c1 = new RekorV2Client({ baseUrl: s1.url, logKey: s1.v2PublicKeyPem });
      const cp1 = await c1.getCheckpoint();
      const tile1 = Buffer.from(await (await fetch(`${s1.url}/tile/0/000.p/5`)).arrayBuffer());
      await s1.close();
      const s2 = await startRekorServer({ dataDir: d });
      try {
        assert.equal(s2.v2PublicKeyPem, s1.v2PublicKeyPem);
        assert.ok(s2.v2LogId.equals(s1.v2LogId));
        const c2 = new RekorV2Client({ baseUrl: s2.url, logKey: s2.v2PublicKeyPem });
        const cp2 = await c2.getCheckpoint();
        assert.equal(cp2.size, 5);
        assert.ok(cp2.rootHash.equals(cp1.rootHash));
        assert.ok(Buffer.from(await (await fetch(`${s2.url}/tile/0/000.p/5`)).arrayBuffer()).equals(tile1));
        assert.equal((await post(`${s2.url}/api/v2/log/entries`, requests[0])).status, 409);
        assert.equal(
          (await post(`${s2.url}/api/v2/log/entries`, hashedRekordRequest(Buffer.from('r5')))).status,
          201,
        );
        const cp3 = await c2.getCheckpoint();
        assert.equal(cp3.size, 6);
        await c2.verifyConsistency(cp1, cp3);
      } finally {
        await s2.close();
      }
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
