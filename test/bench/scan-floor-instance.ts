/**
 * The least CPU a log scan can spend per entry, run by monitor.bench.ts as a monitorLog instance
 * against the same log as the monitor's scan, in the same run. No sigsentry client, no checks that
 * can fail, no scan bookkeeping: what any monitor that proves each entry's inclusion and reads its
 * verifiers must do, with Node's cheapest HTTP client, and hashes made as sigsentry's merkle/hash.ts
 * makes them (the cheapest way found with node:crypto: one-shot, the digest as a string copied into
 * place, no ArrayBuffer per digest). Each level adds one step.
 *
 * Rekor v1 (`kind: 'rekor-v1'`):
 * 0. each retrieve answer (10 entries, Rekor's limit) read with bare node:http, as many requests in
 *    flight as the monitor keeps, kept-alive connections;
 * 1. its text, and JSON.parse;
 * 2. each entry's body decoded from base64 and hashed as an RFC 6962 leaf, its proof's hashes
 *    decoded from hex;
 * 3. its verifiers read and matched against the owned identities, with sigsentry's own extraction
 *    and matcher (the parse + match figure), which read the body's JSON: the floor.
 * And, past the floor, 4: level 3's matching over the monitor's own client (RekorV1Client.scanEntries:
 * logFetch, the read limits, every check of each entry) with nothing of the monitor's scan around
 * it, so that the monitor's figure splits into client and scan.
 *
 * A tile log, Rekor v2 (`kind: 'rekor-v2'`), over whole entry bundles (c2sp.org/tlog-tiles):
 * 0. each entry bundle (256 entries) read gzipped with bare node:http, as many in flight as the
 *    monitor keeps;
 * 1. inflated (one gunzipSync);
 * 2. split at its length prefixes (the client's parseEntryBundle), each entry hashed as a leaf,
 *    and the bundle's 256 leaves hashed up to its subtree root (255 node hashes): the Merkle work
 *    that ties a bundle to a level-1 tile (the climb above it, about 8 hashes a bundle, and the
 *    upper tiles' reads are left out);
 * 3. each entry matched as on v1: the floor;
 * 4. level 3's matching over the monitor's own client (logSourceFor's TiledLogSource over
 *    RekorV2Client.getEntries, every check), in the monitor's batches and read-ahead, nothing of
 *    the scan around it.
 */
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { extractVerifiers } from '../../functions/monitor-log/entry-verifiers.ts';
import { type OwnedIdentity, resolveIdentities } from '../../functions/monitor-log/identities.ts';
import { IdentityMatcher } from '../../functions/monitor-log/matcher.ts';
import { HASH_SIZE, hashChildrenInto, hashLeaf, hashLeafInto } from '../../functions/tlog/merkle/hash.ts';
import { parseEntryBundle } from '../../functions/tlog/tiles/bundle.ts';
import { entryBundlePath, TILE_WIDTH } from '../../functions/tlog/tiles/path.ts';
import { gcPauses } from './gc.ts';

export interface FloorJob {
  kind: 'rekor-v1' | 'rekor-v2';
  url: string;
  /** The log's key (PEM), for level 4's client. */
  publicKey: string;
  /** The tile log's checkpoint origin, for level 4's client on v2. */
  origin?: string;
  /** [from, to): on v2, whole bundles. */
  from: number;
  to: number;
  concurrency: number;
  level: 0 | 1 | 2 | 3 | 4;
  identities: OwnedIdentity[];
}

export interface FloorFigures {
  level: number;
  entries: number;
  wallMs: number;
  cpuMsPerEntry: number;
  /** Of which in the kernel (the loopback's TCP, mostly). */
  systemCpuMsPerEntry: number;
  /** Major collections during the read: each marks the whole live heap, mostly on V8's background threads. */
  majorGcs: number;
}

interface RetrievedEntry {
  body: string;
  verification: { inclusionProof: { hashes: string[] } };
}

const job = JSON.parse(process.argv[process.argv.indexOf('--floor-job') + 1]!) as FloorJob;
if (job.kind === 'rekor-v2' && (job.from % TILE_WIDTH !== 0 || job.to % TILE_WIDTH !== 0)) {
  throw new Error(`a v2 floor reads whole bundles: [${job.from}, ${job.to}) is not`);
}
const agent = new http.Agent({ keepAlive: true });
const matcher = new IdentityMatcher(
  await resolveIdentities(job.identities, () => Promise.reject(new Error('no KMS identity in the floor'))),
);

/** The answer's bytes, as they came (a gzipped one is left gzipped). */
function exchange(url: URL, options: http.RequestOptions, body?: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { ...options, agent });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        if (res.statusCode === 200) resolve(Buffer.concat(chunks));
        else reject(new Error(`${url.pathname} answered ${res.statusCode}`));
      });
    });
    req.end(body);
  });
}

/** Something of each step's result, so no step is optimised away. */
let sink = 0;

function match(body: Buffer): void {
  const extracted = extractVerifiers(body);
  if (!extracted.ok) throw new Error(extracted.message);
  for (const v of extracted.verifiers) sink += matcher.match(v).length;
}

// ---- Rekor v1 ------------------------------------------------------------------------------
const retrieve = new URL('/api/v1/log/entries/retrieve', job.url);

function readRetrieved(entry: RetrievedEntry): void {
  const body = Buffer.from(entry.body, 'base64');
  const leaf = hashLeaf(body);
  const proof = Buffer.from(entry.verification.inclusionProof.hashes.join(''), 'hex');
  sink += leaf[0]! + proof.length;
  if (job.level >= 3) match(body);
}

let next = job.from;
const v1Worker = async (): Promise<void> => {
  while (next < job.to) {
    const first = next;
    next = Math.min(job.to, first + 10);
    const logIndexes = Array.from({ length: next - first }, (_, k) => first + k);
    const request = JSON.stringify({ logIndexes });
    const bytes = await exchange(
      retrieve,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(request) },
      },
      request,
    );
    if (job.level < 1) {
      sink += bytes.length;
      continue;
    }
    const answer = JSON.parse(bytes.toString('utf8')) as Record<string, RetrievedEntry>[];
    if (answer.length !== logIndexes.length)
      throw new Error(`${answer.length} of ${logIndexes.length} entries`);
    if (job.level < 2) continue;
    for (const byUuid of answer) for (const entry of Object.values(byUuid)) readRetrieved(entry);
  }
};

// ---- Rekor v2 (tile log) -------------------------------------------------------------------
/**
 * The RFC 6962 root of a bundle's 256 leaves, its leaf hashes in `level`, which it overwrites: the
 * work the client's TileLevels does for a bundle, in place. Not merkle/proofs.ts's
 * rootFromLeafHashes, which makes a Buffer a node and would raise the floor above the client.
 */
function bundleRoot(level: Buffer): Buffer {
  for (let width = level.length / HASH_SIZE; width > 1; width /= 2) {
    for (let k = 0; k < width / 2; k++) {
      const left = level.subarray(2 * k * HASH_SIZE, (2 * k + 1) * HASH_SIZE);
      const right = level.subarray((2 * k + 1) * HASH_SIZE, (2 * k + 2) * HASH_SIZE);
      hashChildrenInto(left, right, level, k * HASH_SIZE);
    }
  }
  return level.subarray(0, HASH_SIZE);
}

function readBundle(inflated: Buffer): void {
  const bodies = parseEntryBundle(inflated, TILE_WIDTH);
  if (bodies.length !== TILE_WIDTH) throw new Error(`a bundle of ${bodies.length} entries`);
  const leaves = Buffer.allocUnsafe(TILE_WIDTH * HASH_SIZE);
  for (const [k, body] of bodies.entries()) {
    hashLeafInto(body, leaves, HASH_SIZE * k);
    if (job.level >= 3) match(body);
  }
  sink += bundleRoot(leaves)[0]!;
}

let nextBundle = job.from / TILE_WIDTH;
const v2Worker = async (): Promise<void> => {
  while (nextBundle < job.to / TILE_WIDTH) {
    const n = nextBundle++;
    const gzipped = await exchange(new URL(entryBundlePath(n), `${job.url}/`), {
      headers: { 'accept-encoding': 'gzip' },
    });
    if (job.level < 1) {
      sink += gzipped.length;
      continue;
    }
    const inflated = gunzipSync(gzipped);
    if (job.level < 2) {
      sink += inflated.length;
      continue;
    }
    readBundle(inflated);
  }
};

/**
 * Level 4: the monitor's client reads and checks the range, each body matched as level 3 does. Its
 * module is loaded for this level alone, before the measurement: the floor's processes hold none
 * of from-env's client libraries.
 */
async function monitorClientScan(): Promise<() => Promise<void>> {
  const fromEnv = await import('../../functions/monitor-log/from-env.ts');
  if (job.kind === 'rekor-v1') {
    const client = fromEnv.rekorV1ClientFor({ url: job.url, publicKey: job.publicKey }, job.concurrency);
    return async () => {
      await client.scanEntries(job.from, job.to, (_e, body) => match(body));
    };
  }
  // As the monitor reads a tile log: its source's batches, DEFAULT_LIMITS.readAhead of them at once.
  const { readAhead } = (await import('../../functions/monitor-log/core.ts')).DEFAULT_LIMITS;
  const source = fromEnv.logSourceFor(
    { name: 'floor', kind: 'rekor-v2', url: job.url, publicKey: job.publicKey, origin: job.origin },
    job.concurrency,
  );
  const batch = source.batching?.size;
  if (batch === undefined) throw new Error('a tile log source reads in whole bundles');
  return async () => {
    const head = await source.getCheckpoint();
    let at = job.from;
    const reader = async (): Promise<void> => {
      while (at < job.to) {
        const start = at;
        at = Math.min(job.to, start + batch);
        for (const e of await source.readEntries(start, at, head)) match(e.body);
      }
    };
    await Promise.all(Array.from({ length: readAhead }, reader));
  };
}

const scanWithMonitorClient = job.level === 4 ? await monitorClientScan() : undefined;
const bareWorker = job.kind === 'rekor-v1' ? v1Worker : v2Worker;

const stopGc = gcPauses();
const cpu = process.cpuUsage();
const t = performance.now();
if (scanWithMonitorClient !== undefined) await scanWithMonitorClient();
else await Promise.all(Array.from({ length: job.concurrency }, bareWorker));
const used = process.cpuUsage(cpu);
const majorGcs = stopGc().count.major ?? 0;
agent.destroy();
const entries = job.to - job.from;
process.stdout.write(
  `${JSON.stringify({
    level: job.level,
    entries,
    wallMs: Math.round(performance.now() - t),
    cpuMsPerEntry: Number(((used.user + used.system) / 1000 / entries).toFixed(4)),
    systemCpuMsPerEntry: Number((used.system / 1000 / entries).toFixed(4)),
    majorGcs,
    sink,
  })}\n`,
);
