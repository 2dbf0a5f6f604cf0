import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { type RekorServer, startRekorServer } from '../../../emulators/rekor/server.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { CheckpointError } from '../../../functions/tlog/checkpoint/index.ts';
import {
  type HashedRekordV002Input,
  LogIntegrityError,
  parseTransparencyLogEntry,
  RekorV2Client,
  transparencyLogEntryJson,
  verifyRekorV2Checkpoint,
} from '../../../functions/tlog/client/index.ts';
import { certificateIdentity, parseEntryBody } from '../../../functions/tlog/entries/index.ts';

const FIXTURES = join(import.meta.dirname, '../../fixtures/tlog');
const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const spki = key.publicKey.export({ format: 'der', type: 'spki' });
const digestOf = (i: number): Buffer => createHash('sha256').update(`artifact ${i}`).digest();

function input(i: number): HashedRekordV002Input {
  const data = Buffer.from(`artifact ${i}`);
  return {
    digest: digestOf(i),
    signature: sign('sha256', data, key.privateKey),
    keyDetails: 'PKIX_ECDSA_P256_SHA_256',
    publicKeyDer: spki,
  };
}

const integrity = (reason: string) => (err: unknown) =>
  err instanceof LogIntegrityError && err.reason === reason;

describe('RekorV2Client against the emulator and each of its faults', () => {
  let dir: string;
  let server: RekorServer;
  /** A fresh client per check: tiles are immutable, so a client rightly caches them across calls. */
  const client = (extra: { retries?: number; timeoutMs?: number } = {}): RekorV2Client =>
    new RekorV2Client({
      baseUrl: server.url,
      logKey: server.v2PublicKeyPem,
      retries: 1,
      timeoutMs: 2000,
      ...extra,
    });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rekor-v2-client-'));
    server = await startRekorServer({ dataDir: dir });
    // More than one tile: proofs then read level-1 tiles as well as level-0 ones.
    const c = client();
    for (let i = 0; i < 270; i++) await c.append(input(i));
  });
  afterEach(() => server.faults.clear());
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('honest log: append, duplicate, checkpoint, consistency, inclusion and entries from bundles', async () => {
    const c = client();
    assert.equal(c.origin, '127.0.0.1');
    assert.ok(c.logId.equals(server.v2LogId));
    const first = await c.append(input(1000));
    const again = await c.append({ ...input(1000), signature: signatureOf(first) });
    assert.equal(again.logIndex, first.logIndex); // 409, read back from the tiles and verified
    const cp1 = await c.getCheckpoint();
    await c.append(input(1001));
    const cp2 = await c.getCheckpoint();
    await c.verifyConsistency(cp1, cp2);
    const { leafHash } = await c.proveInclusion(3, cp2);
    const entries = await c.getEntries(250, cp2.size, cp2);
    assert.deepEqual(
      entries.map((e) => e.logIndex),
      Array.from({ length: cp2.size - 250 }, (_, i) => 250 + i),
    );
    const e3 = (await c.getEntries(3, 4, cp2))[0]!;
    assert.ok(e3.leafHash.equals(leafHash));
    const parsed = parseEntryBody(e3.body, 3);
    assert.ok(parsed.ok);
    assert.equal(parsed.entry.kind, 'hashedrekord');
    assert.equal(parsed.entry.apiVersion, '0.0.2');
    assert.deepEqual(parsed.entry.artifactDigest, { algorithm: 'sha256', hex: digestOf(3).toString('hex') });
    assert.equal(parsed.entry.verifier.type, 'publicKey');
    assert.ok(parsed.entry.verifier.type === 'publicKey' && parsed.entry.verifier.der.equals(spki));
    // The JSON form round-trips (what a bundle stores).
    c.verifyEntry(parseTransparencyLogEntry(JSON.parse(JSON.stringify(transparencyLogEntryJson(first)))));
  });

  it('split view: a forked checkpoint, correctly signed, is not consistent with the trusted one', async () => {
    const trusted = await client().getCheckpoint();
    await client().append(input(2000));
    server.faults.set({ splitView: true });
    const c = client();
    const forked = await c.getCheckpoint();
    await assert.rejects(c.verifyConsistency(trusted, forked), integrity('inconsistent'));
    await assert.rejects(client().getEntries(0, 10, forked), integrity('bad-tile'));
    await assert.rejects(client().append(input(2001)), integrity('bad-inclusion-proof'));
  });

  it('rewritten old entry in a bundle: detected, and the error names its index', async () => {
    server.faults.set({ rewriteEntry: 4 });
    const c = client();
    const cp = await c.getCheckpoint();
    await assert.rejects(
      c.getEntries(0, cp.size, cp),
      (err: unknown) =>
        err instanceof LogIntegrityError &&
        err.reason === 'bad-inclusion-proof' &&
        err.details['logIndex'] === 4,
    );
  });

  it('checkpoint signed with another key is rejected, from the tiles API and in a new entry', async () => {
    server.faults.set({ wrongCheckpointKey: true });
    await assert.rejects(client().getCheckpoint(), integrity('bad-checkpoint'));
    await assert.rejects(client().append(input(3000)), integrity('bad-checkpoint'));
  });

  it('shrunk tree is detected', async () => {
    const trusted = await client().getCheckpoint();
    server.faults.set({ shrinkBy: 3 });
    const smaller = await client().getCheckpoint();
    assert.equal(smaller.size, trusted.size - 3);
    await assert.rejects(client().verifyConsistency(trusted, smaller), integrity('shrunk'));
  });

  it('wrong inclusion proof (in the answer) and wrong level-0 tiles are detected', async () => {
    server.faults.set({ wrongInclusionProof: true });
    await assert.rejects(client().append(input(4000)), integrity('bad-inclusion-proof'));
    const c = client();
    const cp = await c.getCheckpoint();
    await assert.rejects(c.proveInclusion(7, cp), integrity('bad-tile'));
    await assert.rejects(client().getEntries(0, 5, cp), integrity('bad-tile'));
  });

  it('entries are proven from their bundle: no level-0 tile is read but the partial one at the right edge', async () => {
    const cp = await client().getCheckpoint();
    assert.ok(cp.size > 256 && cp.size % 256 !== 0);
    const paths: string[] = [];
    const counted = new RekorV2Client({
      baseUrl: server.url,
      logKey: server.v2PublicKeyPem,
      fetch: (url, init) => {
        paths.push(new URL(String(url)).pathname);
        return fetch(url, init);
      },
    });
    const entries = await counted.getEntries(0, 256, cp);
    assert.equal(entries.length, 256);
    // The first bundle's leaves stand in for its tile; the proof still needs the tree's partial
    // right edge, which no bundle of this read holds.
    const edge = `/tile/0/001.p/${cp.size % 256}`;
    assert.deepEqual(
      paths.filter((p) => p.startsWith('/tile/0/')),
      [edge],
    );
    assert.ok(paths.includes('/tile/entries/000'));
  });

  it('an upper tile served wrong once and right after is a tile set that changed, not a bad entry', async () => {
    const cp = await client().getCheckpoint();
    let corrupted = 0;
    const onceWrong = new RekorV2Client({
      baseUrl: server.url,
      logKey: server.v2PublicKeyPem,
      fetch: async (url, init) => {
        const res = await fetch(url, init);
        if (!new URL(String(url)).pathname.startsWith('/tile/1/') || corrupted++ > 0) return res;
        const bytes = Buffer.from(await res.arrayBuffer());
        bytes[0]! ^= 1;
        return new Response(bytes, { status: 200 });
      },
    });
    // Entry 256's proof reads the first 256 entries' subtree from the level-1 tile.
    await assert.rejects(
      onceWrong.getEntries(256, 260, cp),
      (err: unknown) => integrity('bad-tile')(err) && /changed between reads/.test((err as Error).message),
    );
    assert.equal(corrupted, 2, 'the level-1 tile was read again, right the second time');
  });

  it('wrong higher-level tiles break the consistency proof computed from them', async () => {
    const trusted = await client().getCheckpoint();
    await client().append(input(5000));
    const next = await client().getCheckpoint();
    server.faults.set({ wrongConsistencyProof: true });
    await assert.rejects(client().verifyConsistency(trusted, next), integrity('inconsistent'));
    // Honest bundles do not reproduce the root through a wrong upper tile either: entry 256's
    // proof reads the first 256 entries' subtree from the level-1 tile.
    await assert.rejects(client().getEntries(256, 260, next), integrity('bad-tile'));
  });

  it('5xx: a transient one is retried, a persistent one is a retryable DependencyError', async () => {
    server.faults.set({ errorStatus: 503, errorCount: 1 });
    await client().getCheckpoint();
    server.faults.set({ errorStatus: 500, errorCount: 100 });
    await assert.rejects(
      client().getCheckpoint(),
      (err: unknown) => err instanceof DependencyError && err.retryable,
    );
    await assert.rejects(client().getTile(0, 0), (err: unknown) => err instanceof DependencyError);
  });

  it('slow answers past the timeout are a retryable DependencyError', async () => {
    server.faults.set({ delayMs: 1000 });
    await assert.rejects(
      client({ retries: 0, timeoutMs: 100 }).getCheckpoint(),
      (err: unknown) => err instanceof DependencyError,
    );
  });

  it('a log under another key or origin is not trusted', async () => {
    const other = generateKeyPairSync('ed25519').publicKey;
    await assert.rejects(
      new RekorV2Client({ baseUrl: server.url, logKey: other, retries: 0 }).getCheckpoint(),
      integrity('bad-checkpoint'),
    );
    const renamed = new RekorV2Client({
      baseUrl: server.url,
      logKey: server.v2PublicKeyPem,
      origin: 'log.example',
    });
    await assert.rejects(renamed.getCheckpoint(), integrity('bad-checkpoint'));
  });

  // Last: it grows the log.
  it('partial tiles and bundles the log has deleted since its tree grew are read from the full ones', async () => {
    const older = await client().getCheckpoint();
    assert.ok(older.size % 256 !== 0 && older.size < 512);
    const c = client();
    while ((await c.getCheckpoint()).size < 520) await c.append(input(1000 + (await c.getCheckpoint()).size));
    // As Tessera's garbage collection does (tlog-tiles: a log MAY delete a partial tile once the
    // full tile is available): a partial whose full version exists is gone.
    const paths: string[] = [];
    const collected = new RekorV2Client({
      baseUrl: server.url,
      logKey: server.v2PublicKeyPem,
      fetch: async (url, init) => {
        const path = new URL(String(url)).pathname;
        paths.push(path);
        const partial = /^(.*)\.p\/\d+$/.exec(path);
        if (partial !== null && (await fetch(`${server.url}${partial[1]}`)).status === 200) {
          return new Response('not found', { status: 404 });
        }
        return fetch(url, init);
      },
    });
    const entries = await collected.getEntries(0, older.size, older);
    assert.equal(entries.length, older.size);
    assert.deepEqual(
      entries.map((e) => e.body),
      (await client().getEntries(0, older.size, older)).map((e) => e.body),
    );
    const last = older.size - 1;
    const { hashes } = await collected.proveInclusion(last, older);
    assert.ok(hashes.length > 0);
    const full = [`/tile/entries/001`, `/tile/0/001`];
    for (const path of full) assert.ok(paths.includes(path), `${path} in ${paths.join(' ')}`);
    assert.ok(paths.includes(`/tile/entries/001.p/${older.size % 256}`), 'the partial was asked for first');
  });
});

/** The signature stored in an entry's body (ECDSA signatures differ per signing; a duplicate needs the same). */
function signatureOf(entry: { canonicalizedBody: Buffer }): Buffer {
  const body = JSON.parse(entry.canonicalizedBody.toString('utf8')) as {
    spec: { hashedRekordV002: { signature: { content: string } } };
  };
  return Buffer.from(body.spec.hashedRekordV002.signature.content, 'base64');
}

describe('real Rekor v2 data (log2025-1.rekor.sigstore.dev), offline', () => {
  const root = JSON.parse(readFileSync(join(FIXTURES, 'prod_trusted_root.json'), 'utf8')) as {
    tlogs: Array<{ baseUrl: string; publicKey: { rawBytes: string }; logId: { keyId: string } }>;
  };
  const tlog = root.tlogs.find((t) => t.baseUrl === 'https://log2025-1.rekor.sigstore.dev')!;
  const logKey = Buffer.from(tlog.publicKey.rawBytes, 'base64'); // DER SubjectPublicKeyInfo
  const ORIGIN = 'log2025-1.rekor.sigstore.dev';
  const note = readFileSync(
    join(FIXTURES, 'checkpoints/prod_rekor_v2_log2025-1_size4855115.DERIVED.txt'),
    'utf8',
  );
  const tle = JSON.parse(
    readFileSync(
      join(FIXTURES, 'entries/prod_log2025-1_TransparencyLogEntry_logIndex4855114.DERIVED.json'),
      'utf8',
    ),
  ) as unknown;

  it('the real checkpoint verifies with the trusted-root key; mutated copies fail', () => {
    const cp = verifyRekorV2Checkpoint(note, logKey, ORIGIN);
    assert.equal(cp.size, 4855115);
    assert.equal(cp.rootHash.toString('base64'), 'gDfQHcPSkLDVUd/xeZWPsqSB7RTR0ho07k15jgzLOpw=');
    const mutations = [
      note.replace('\n4855115\n', '\n4855116\n'),
      note.replace('gDfQHcPS', 'gDfQHcPT'),
      note.replace('zxGZFXYHvtV6', 'zxGZFXYHvtV7'),
      note.replace(/log2025-1\.rekor\.sigstore\.dev/g, 'log2025-2.rekor.sigstore.dev'),
    ];
    for (const m of mutations) {
      assert.notEqual(m, note);
      assert.throws(() => verifyRekorV2Checkpoint(m, logKey, ORIGIN), CheckpointError);
    }
    assert.throws(() => verifyRekorV2Checkpoint(note, logKey, 'rekor.sigstore.dev'), CheckpointError);
  });

  it('the real entry verifies offline (log ID, checkpoint, inclusion) and its body parses with identity', () => {
    const client = new RekorV2Client({ baseUrl: `https://${ORIGIN}`, logKey });
    assert.equal(client.logId.toString('base64'), tlog.logId.keyId);
    const entry = parseTransparencyLogEntry(tle);
    const cp = client.verifyEntry(entry);
    assert.equal(cp.size, 4855115);
    const tampered = {
      ...entry,
      canonicalizedBody: Buffer.from(entry.canonicalizedBody.toString().replace('fkPX', 'fkPY')),
    };
    assert.throws(() => client.verifyEntry(tampered), integrity('bad-inclusion-proof'));
    const parsed = parseEntryBody(entry.canonicalizedBody, entry.logIndex);
    assert.ok(parsed.ok);
    assert.equal(parsed.entry.apiVersion, '0.0.2');
    assert.deepEqual(parsed.entry.artifactDigest, {
      algorithm: 'sha256',
      hex: Buffer.from('fkPXJwtNnu4rzqfYkSudLkH4jSvet+J3gq9HrHxGcb4=', 'base64').toString('hex'),
    });
    assert.equal(parsed.entry.verifier.type, 'certificate');
    const identity = certificateIdentity(
      parsed.entry.verifier.type === 'certificate' ? parsed.entry.verifier.der : Buffer.alloc(0),
    );
    assert.equal(identity.san, 'untrusted-sa@sigstore-conformance.iam.gserviceaccount.com');
    assert.equal(identity.issuer, 'https://accounts.google.com');
  });
});
