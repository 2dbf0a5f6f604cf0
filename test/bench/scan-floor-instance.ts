/**
 * The least CPU a Rekor v1 scan can spend per entry, run by monitor.bench.ts as a monitorLog
 * instance against the same log as the monitor's scan, in the same run. No sigsentry client, no
 * checks that can fail, no scan bookkeeping: what any monitor that proves each entry's inclusion
 * and reads its verifiers must do, with Node's cheapest HTTP client. Each level adds one step:
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
 */
import { hash } from 'node:crypto';
import http from 'node:http';
import { extractVerifiers } from '../../functions/monitor-log/entry-verifiers.ts';
import { type OwnedIdentity, resolveIdentities } from '../../functions/monitor-log/identities.ts';
import { IdentityMatcher } from '../../functions/monitor-log/matcher.ts';

export interface FloorJob {
  url: string;
  /** The log's key (PEM), for level 4's client. */
  publicKey: string;
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
}

interface RetrievedEntry {
  body: string;
  verification: { inclusionProof: { hashes: string[] } };
}

const job = JSON.parse(process.argv[process.argv.indexOf('--floor-job') + 1]!) as FloorJob;
const agent = new http.Agent({ keepAlive: true });
const retrieve = new URL('/api/v1/log/entries/retrieve', job.url);
const matcher = new IdentityMatcher(
  await resolveIdentities(job.identities, () => Promise.reject(new Error('no KMS identity in the floor'))),
);

function post(body: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = http.request(retrieve, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        if (res.statusCode === 200) resolve(Buffer.concat(chunks));
        else reject(new Error(`retrieve answered ${res.statusCode}`));
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

function readEntry(entry: RetrievedEntry): void {
  const body = Buffer.from(entry.body, 'base64');
  const leaf = hash('sha256', Buffer.concat([Buffer.of(0), body]), 'buffer');
  const proof = Buffer.from(entry.verification.inclusionProof.hashes.join(''), 'hex');
  sink += leaf[0]! + proof.length;
  if (job.level >= 3) match(body);
}

let next = job.from;
const worker = async (): Promise<void> => {
  while (next < job.to) {
    const first = next;
    next = Math.min(job.to, first + 10);
    const logIndexes = Array.from({ length: next - first }, (_, k) => first + k);
    const bytes = await post(JSON.stringify({ logIndexes }));
    if (job.level < 1) {
      sink += bytes.length;
      continue;
    }
    const answer = JSON.parse(bytes.toString('utf8')) as Record<string, RetrievedEntry>[];
    if (answer.length !== logIndexes.length)
      throw new Error(`${answer.length} of ${logIndexes.length} entries`);
    if (job.level < 2) continue;
    for (const byUuid of answer) for (const entry of Object.values(byUuid)) readEntry(entry);
  }
};

/**
 * Level 4: the monitor's client reads and checks the range, each body matched as level 3 does. Its
 * module is loaded for this level alone, before the measurement: the floor's processes hold none
 * of from-env's client libraries.
 */
const monitorClient =
  job.level === 4
    ? (await import('../../functions/monitor-log/from-env.ts')).rekorV1ClientFor(
        { url: job.url, publicKey: job.publicKey },
        job.concurrency,
      )
    : undefined;

const cpu = process.cpuUsage();
const t = performance.now();
if (monitorClient !== undefined) await monitorClient.scanEntries(job.from, job.to, (_e, body) => match(body));
else await Promise.all(Array.from({ length: job.concurrency }, worker));
const used = process.cpuUsage(cpu);
agent.destroy();
const entries = job.to - job.from;
process.stdout.write(
  `${JSON.stringify({
    level: job.level,
    entries,
    wallMs: Math.round(performance.now() - t),
    cpuMsPerEntry: Number(((used.user + used.system) / 1000 / entries).toFixed(4)),
    systemCpuMsPerEntry: Number((used.system / 1000 / entries).toFixed(4)),
    sink,
  })}\n`,
);
