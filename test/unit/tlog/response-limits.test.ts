/**
 * Log answers are read with a bound (client/limits.ts): whoever serves the log's files (a CDN, a
 * bucket; no signing key needed) can answer with `Content-Encoding: gzip` that fetch inflates as it
 * is read. A loopback server answers with a gzip bomb of 64 MiB inflated (64 KiB on the wire); the
 * read must stop near the answer's limit with a LogResponseTooLargeError naming the URL's origin and
 * path and the limit, never retried. Each case runs twice: through fetch, which inflates as it reads
 * (the bytes the client pulls are counted between fetch and it), and through the clients' default,
 * logFetch (node-fetch.ts), whose gzipped bodies the client inflates itself.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, it, type TestContext } from 'node:test';
import { createGzip, gzipSync } from 'node:zlib';
import {
  ed25519NoteSigner,
  formatCheckpointBody,
  signNote,
  type VerifiedCheckpoint,
} from '../../../functions/tlog/checkpoint/index.ts';
import {
  LogHttpError,
  LogIntegrityError,
  RekorV1Client,
  RekorV2Client,
  verifyRekorV2Checkpoint,
} from '../../../functions/tlog/client/index.ts';
import { type Answer, AnsweringServer } from '../../helpers/answering-server.ts';

const MiB = 1024 * 1024;

// The limits of functions/tlog/client/limits.ts, pinned as the formats give them.
/** c2sp.org/signed-note: up to 100 signature lines, post-quantum ones of up to ~7 KiB. */
const CHECKPOINT_MAX_BYTES = MiB;
/** c2sp.org/tlog-tiles: 32 bytes a hash; 8,192 for a full tile. */
const tileMaxBytes = (width: number) => width * 32;
/** c2sp.org/tlog-tiles: each entry after a uint16 length, so at most 65,537 bytes an entry. */
const bundleMaxBytes = (width: number) => width * 65_537;
const V1_LOG_INFO_MAX_BYTES = 2 * MiB;
/** 10 entries a retrieve (Rekor's cap), 2 MiB an entry. */
const V1_RETRIEVED_ENTRIES_MAX_BYTES = 20 * MiB;
const V1_CONSISTENCY_PROOF_MAX_BYTES = 64 * 1024;
const ERROR_BODY_MAX_BYTES = 64 * 1024;
const BOMB_MIB = 64;
/** What one read may pull past its limit: the inflater's chunks are 16-64 KiB. */
const SLACK = MiB;

/** A gzip stream of `mib` MiB of zeros: about 1 KiB on the wire for each MiB. */
async function gzipBomb(mib: number): Promise<Buffer> {
  const gzip = createGzip({ level: 9 });
  const out: Buffer[] = [];
  gzip.on('data', (chunk: Buffer) => out.push(chunk));
  const zeros = Buffer.alloc(MiB);
  for (let i = 0; i < mib; i++) gzip.write(zeros);
  gzip.end();
  await once(gzip, 'end');
  return Buffer.concat(out);
}

/** Answers with `body` sent gzip-encoded (a Content-Length of the encoded bytes, as a CDN sends). */
const gzipped =
  (body: Buffer, status = 200): Answer =>
  (_req, res) => {
    res.writeHead(status, { 'content-encoding': 'gzip', 'content-length': body.length });
    res.end(body);
  };

/** The inflated body bytes the client pulled through fetch (pulled one read at a time). */
function countingFetch(counter: { bytes: number }): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    if (res.body === null) return res;
    const reader = res.body.getReader();
    const body = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          const { done, value } = await reader.read();
          if (done) return controller.close();
          counter.bytes += value.byteLength;
          controller.enqueue(value);
        },
        cancel: (reason) => reader.cancel(reason),
      },
      { highWaterMark: 0 },
    );
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

/** Peak RSS while `run` runs, reported as a diagnostic (measured, not asserted). */
async function withPeakRss<T>(t: TestContext, run: () => Promise<T>): Promise<T> {
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  try {
    return await run();
  } finally {
    clearInterval(timer);
    t.diagnostic(`RSS ${(base / MiB).toFixed(0)} MiB before, peak ${(peak / MiB).toFixed(0)} MiB`);
  }
}

/** The error a bombed read must end in: typed, not retryable, naming origin + path and the limit. */
function tooLarge(expected: { url: string; limit: number; details?: Record<string, unknown> }) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof LogIntegrityError, String(err));
    assert.equal(err.constructor.name, 'LogResponseTooLargeError');
    assert.equal(err.reason, 'response-too-large');
    assert.equal(err.retryable, false);
    assert.equal(err.details['url'], expected.url);
    assert.equal(err.details['limit'], expected.limit);
    for (const [k, v] of Object.entries(expected.details ?? {})) assert.equal(err.details[k], v, k);
    assert.ok(err.message.includes(expected.url), err.message);
    assert.ok(err.message.includes(String(expected.limit)), err.message);
    assert.ok(!err.message.includes('?'), `no query string in: ${err.message}`);
    return true;
  };
}

const ORIGIN = 'bomb.example';
const logKey = generateKeyPairSync('ed25519');
const v1Key = generateKeyPairSync('ec', { namedCurve: 'P-256' });

/** A checkpoint signed by the v2 client's trusted key: the tiles and bundles of its tree get read. */
function signedCheckpoint(size: number): VerifiedCheckpoint {
  const rootHash = createHash('sha256').update(`root ${size}`).digest();
  const note = signNote(
    formatCheckpointBody({ origin: ORIGIN, size, rootHash, extensions: [] }),
    ed25519NoteSigner(ORIGIN, logKey.privateKey),
  );
  return verifyRekorV2Checkpoint(note, logKey.publicKey, ORIGIN);
}

/** A v1 checkpoint as the client holds it once verified (the proof request is what is tested). */
const v1Checkpoint = (size: number): VerifiedCheckpoint => ({
  origin: 'rekor.bomb.example - 1234',
  size,
  rootHash: createHash('sha256').update(`v1 root ${size}`).digest(),
  extensions: [],
  note: '',
});

/** How the clients under test make requests: fetch, counted, or their default (undefined). */
interface Transport {
  name: string;
  fetch: (pulled: { bytes: number }) => typeof fetch | undefined;
}

const TRANSPORTS: Transport[] = [
  { name: 'fetch', fetch: countingFetch },
  { name: 'the default, logFetch', fetch: () => undefined },
];

for (const transport of TRANSPORTS)
  describe(`log answers past their limit are cut off near it (gzip bombs of 64 MiB inflated), through ${transport.name}`, () => {
    const server = new AnsweringServer();
    let bomb: Buffer;
    const pulled = { bytes: 0 };
    // Retries on: an oversized answer is a log fault, so no retry may follow it.
    const v2 = () =>
      new RekorV2Client({
        baseUrl: server.url,
        logKey: logKey.publicKey,
        origin: ORIGIN,
        retries: 2,
        timeoutMs: 3000,
        ...(transport.fetch(pulled) === undefined ? {} : { fetch: transport.fetch(pulled)! }),
      });
    const v1 = () =>
      new RekorV1Client({
        baseUrl: server.url,
        logKey: v1Key.publicKey,
        retries: 2,
        timeoutMs: 3000,
        ...(transport.fetch(pulled) === undefined ? {} : { fetch: transport.fetch(pulled)! }),
      });

    /** Runs `call` against the bomb; the read must stop near `limit` after one request. */
    async function bombed(t: TestContext, call: () => Promise<unknown>, limit: number): Promise<unknown> {
      server.asked.length = 0;
      pulled.bytes = 0;
      server.answer = gzipped(bomb);
      let caught: unknown;
      await withPeakRss(t, () => call().catch((err: unknown) => (caught = err)));
      assert.ok(caught !== undefined, 'the bombed call failed');
      assert.equal(server.paths.length, 1, `asked once, not retried: ${server.paths.join(' ')}`);
      if (transport.fetch(pulled) !== undefined) {
        assert.ok(pulled.bytes > limit, `read past the limit (${pulled.bytes})`);
        assert.ok(pulled.bytes <= limit + SLACK, `read ${pulled.bytes} bytes for a limit of ${limit}`);
        t.diagnostic(`pulled ${pulled.bytes} inflated bytes of ${BOMB_MIB} MiB for a limit of ${limit}`);
      }
      return caught;
    }

    before(async () => {
      bomb = await gzipBomb(BOMB_MIB);
      assert.ok(bomb.length < 128 * 1024, `the bomb is ${bomb.length} bytes on the wire`);
      await server.start();
    });
    after(() => server.close());

    it('v2 checkpoint: refused past 1 MiB, named by origin and path', async (t) => {
      const err = await bombed(t, () => v2().getCheckpoint(), CHECKPOINT_MAX_BYTES);
      tooLarge({ url: `${server.url}/checkpoint`, limit: CHECKPOINT_MAX_BYTES })(err);
    });

    it('v2 hash tiles: no more is read than 32 bytes a hash of the width asked for', async (t) => {
      const full = await bombed(t, () => v2().getTile(0, 0), tileMaxBytes(256));
      tooLarge({ url: `${server.url}/tile/0/000`, limit: 8192, details: { level: 0, index: 0 } })(full);
      const partial = await bombed(t, () => v2().getTile(1, 2, 44), tileMaxBytes(44));
      tooLarge({ url: `${server.url}/tile/1/002.p/44`, limit: 44 * 32, details: { level: 1, index: 2 } })(
        partial,
      );
      // Not encoded, with no Content-Length either: one byte too many is the limit's business too.
      server.answer = (_req, res) => res.end(randomBytes(8193));
      await assert.rejects(v2().getTile(0, 0), tooLarge({ url: `${server.url}/tile/0/000`, limit: 8192 }));
    });

    it('v2 hash tiles: an honest tile sent gzipped still reads, though its Content-Length passes 8 KiB', async () => {
      const tile = randomBytes(8192);
      const body = gzipSync(tile);
      assert.ok(body.length > 8192, 'random bytes do not compress');
      server.answer = gzipped(body);
      assert.deepEqual(await v2().getTile(0, 0), tile);
    });

    it('v2 entry bundles: refused past W × 65,537 bytes, naming the bundle first log index', async (t) => {
      const cp = signedCheckpoint(300);
      const err = await bombed(t, () => v2().getEntries(0, 10, cp), bundleMaxBytes(256));
      tooLarge({ url: `${server.url}/tile/entries/000`, limit: 16_777_472, details: { logIndex: 0 } })(err);
      const partial = await bombed(t, () => v2().getEntries(256, 300, cp), bundleMaxBytes(44));
      tooLarge({
        url: `${server.url}/tile/entries/001.p/44`,
        limit: 44 * 65_537,
        details: { logIndex: 256 },
      })(partial);
    });

    it('v1 log info, retrieved entries and consistency proof: each refused past its own limit', async (t) => {
      const info = await bombed(t, () => v1().getCheckpoint(), V1_LOG_INFO_MAX_BYTES);
      tooLarge({ url: `${server.url}/api/v1/log`, limit: V1_LOG_INFO_MAX_BYTES })(info);
      const entries = await bombed(t, () => v1().getEntries(0, 10), V1_RETRIEVED_ENTRIES_MAX_BYTES);
      tooLarge({
        url: `${server.url}/api/v1/log/entries/retrieve`,
        limit: V1_RETRIEVED_ENTRIES_MAX_BYTES,
        details: { logIndex: 0 },
      })(entries);
      // The proof's URL has a query (firstSize, lastSize, treeID): the error names its path only.
      const proof = await bombed(
        t,
        () => v1().verifyConsistency(v1Checkpoint(5), v1Checkpoint(9)),
        V1_CONSISTENCY_PROOF_MAX_BYTES,
      );
      tooLarge({
        url: `${server.url}/api/v1/log/proof`,
        limit: V1_CONSISTENCY_PROOF_MAX_BYTES,
        details: { trustedSize: 5, newSize: 9 },
      })(proof);
    });

    it('a Content-Length past the limit is refused at once, without waiting for the body', async () => {
      server.asked.length = 0;
      // Headers, ten bytes, then nothing: a client that waits for the body waits for its timeout.
      server.answer = (_req, res) => {
        res.writeHead(200, { 'content-length': String(CHECKPOINT_MAX_BYTES + 1) });
        res.write('0123456789');
      };
      await assert.rejects(v2().getCheckpoint(), (err: unknown) => {
        tooLarge({ url: `${server.url}/checkpoint`, limit: CHECKPOINT_MAX_BYTES })(err);
        assert.match((err as Error).message, new RegExp(`Content-Length is ${CHECKPOINT_MAX_BYTES + 1}`));
        return true;
      });
      assert.equal(server.paths.length, 1);
    });

    it('a 4xx answer is read to its first 64 KiB only: the rest is not inflated', async (t) => {
      server.asked.length = 0;
      pulled.bytes = 0;
      server.answer = gzipped(bomb, 404);
      let caught: unknown;
      await withPeakRss(t, () =>
        v2()
          .getCheckpoint()
          .catch((err: unknown) => (caught = err)),
      );
      assert.ok(caught instanceof LogHttpError, String(caught));
      assert.equal(caught.status, 404);
      assert.equal(caught.body.length, ERROR_BODY_MAX_BYTES);
      if (transport.fetch(pulled) !== undefined) {
        assert.ok(pulled.bytes <= ERROR_BODY_MAX_BYTES + SLACK, `read ${pulled.bytes} bytes`);
      }
      assert.match(caught.body, /^\0+$/, 'the answer inflated, not its gzip bytes');
      assert.equal(server.paths.length, 1);
    });
  });
