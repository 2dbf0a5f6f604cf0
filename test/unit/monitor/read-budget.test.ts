/**
 * Issue #9: what a scan holds in log answers is bounded, whatever the log serves within each
 * answer's limit. The Rekor emulator (in this process) holds an honest log; between it and the real
 * clients, a fetch counts every byte the monitor takes of each answer, and for Rekor v1 pads each
 * retrieve answer with whitespace (valid JSON, the same entries) as a hostile log or its CDN could.
 * The bytes taken for batches not yet recorded (the cursor) must never pass the read budget (and
 * a chunk in hand per read, read before the budget is asked), the scan must end as it would with
 * no budget, and a batch that cannot fit half the budget is reported as the log fault it is.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { acceptProposedEntry } from '../../../emulators/rekor/kinds.ts';
import { type RekorServer, startRekorServer } from '../../../emulators/rekor/server.ts';
import { LogStore } from '../../../emulators/rekor/store.ts';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { loadMonitorConfig } from '../../../functions/monitor-log/config.ts';
import { type LogRunResult, type MonitorLimits, runMonitor } from '../../../functions/monitor-log/core.ts';
import { logSourceFor } from '../../../functions/monitor-log/from-env.ts';
import type { MonitoredLog } from '../../../functions/monitor-log/log-source.ts';
import { RekorV1Source } from '../../../functions/monitor-log/rekor-v1-source.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { TiledLogSource } from '../../../functions/monitor-log/tiled-source.ts';
import { LogResponseTooLargeError } from '../../../functions/tlog/client/errors.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import { RekorV2Client } from '../../../functions/tlog/client/rekor-v2.ts';
import { hashedRekordProposal } from '../../helpers/hashedrekord.ts';
import { unrelatedIdentity } from '../../helpers/unrelated-identity.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
/** A small budget, so that a few MiB of answers pass it: half (4 MiB) fits a batch of 3 MiB. */
const BUDGET = 8 * MiB;
const CONCURRENCY = 4;
/** Four batches read ahead of the one matched: with no budget, five batches of 3 MiB are held. */
const READ_AHEAD = 4;

const theirs = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const owned = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pemOf = (k: typeof owned.publicKey) => k.export({ format: 'pem', type: 'spki' }).toString();

const dirs: string[] = [];
const servers: RekorServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** An emulator whose log (v1 in `dir`, v2 in `dir/v2`) is filled straight through its store. */
async function emulatorWith(fill: (dir: string) => void): Promise<RekorServer> {
  const dir = mkdtempSync(join(tmpdir(), 'read-budget-'));
  dirs.push(dir);
  fill(dir);
  const rekor = await startRekorServer({ dataDir: dir });
  servers.push(rekor);
  return rekor;
}

function fillStore(dir: string, n: number, body: (i: number) => Buffer): void {
  const store = new LogStore(dir);
  for (let i = 0; i < n; i++) store.append(body(i), { integratedTime: 1_700_000_000, keys: [] });
  store.close();
}

/** A Rekor v2 hashedrekord body by a key nobody owns, padded with an unknown field to `bytes`. */
function paddedV2Body(i: number, bytes: number): Buffer {
  const digest = createHash('sha256').update(`entry ${i}`).digest('base64');
  const body = {
    apiVersion: '0.0.2',
    kind: 'hashedrekord',
    spec: {
      hashedRekordV002: {
        data: { algorithm: 'SHA2_256', digest },
        signature: {
          content: randomBytes(70).toString('base64'),
          verifier: {
            keyDetails: 'PKIX_ECDSA_P256_SHA_256',
            publicKey: {
              rawBytes: theirs.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
            },
          },
        },
      },
    },
    padding: '',
  };
  const bare = JSON.stringify(body).length;
  body.padding = 'p'.repeat(Math.max(0, bytes - bare));
  return Buffer.from(JSON.stringify(body));
}

/**
 * Bytes the monitor has taken of each answer, by the first log index it holds, and the most it held
 * at once for batches not yet recorded: the cursor moves only once a batch is processed.
 */
class Held {
  readonly taken = new Map<number, number>();
  peak = 0;
  maxChunk = 0;
  readonly cursor: () => number;
  constructor(cursor: () => number) {
    this.cursor = cursor;
  }

  add(firstIndex: number, bytes: number): void {
    this.taken.set(firstIndex, (this.taken.get(firstIndex) ?? 0) + bytes);
    this.maxChunk = Math.max(this.maxChunk, bytes);
    const from = this.cursor();
    let held = 0;
    for (const [index, n] of this.taken) if (index >= from) held += n;
    this.peak = Math.max(this.peak, held);
  }
}

/** `body`'s bytes as the consumer pulls them, each counted then (nothing is read ahead of it). */
function counted(
  body: ReadableStream<Uint8Array>,
  count: (bytes: number) => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) return controller.close();
        count(value.byteLength);
        controller.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

function chunked(text: string, size: number): ReadableStream<Uint8Array> {
  const bytes = Buffer.from(text);
  let at = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (at >= bytes.length) return controller.close();
        controller.enqueue(bytes.subarray(at, at + size));
        at += size;
      },
    },
    { highWaterMark: 0 },
  );
}

async function scan(
  name: string,
  log: MonitoredLog,
  store: MemoryMonitorStore,
  limits: Partial<MonitorLimits>,
): Promise<{ result: LogRunResult; alerts: MemoryAlertSink }> {
  const alerts = new MemoryAlertSink();
  const identities = await unrelatedIdentity();
  const run = await runMonitor({
    logs: [{ name, log, startIndex: 0 }],
    store,
    alerts,
    records: new StaticSigningRecordLookup(),
    identities,
    logger: createMemoryLogger(),
    limits: { readAhead: READ_AHEAD, ...limits },
  });
  return { result: run.logs[0]!, alerts };
}

const summary = (r: LogRunResult) => ({
  outcome: r.outcome,
  cursor: r.cursor,
  scanned: r.scanned,
  matched: r.matched,
  rogue: r.rogue,
  unparseable: r.unparseable,
});

describe('the read budget on a tile log serving 1.5 MiB entry bundles', () => {
  const BUNDLES = 12;
  const size = BUNDLES * 256;

  const source = (rekor: RekorServer, held?: Held): MonitoredLog => {
    const reader = new RekorV2Client({
      baseUrl: rekor.url,
      logKey: rekor.v2PublicKeyPem,
      concurrency: CONCURRENCY,
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        const bundle = /\/tile\/entries\/(\d{3})/.exec(new URL(String(input)).pathname);
        if (held === undefined || bundle === null || res.body === null) return res;
        const first = Number(bundle[1]) * 256;
        const headers = new Headers(res.headers);
        headers.delete('content-length');
        headers.delete('content-encoding'); // fetch inflated it
        const body = counted(res.body, (n) => held.add(first, n));
        return new Response(body, { status: res.status, headers });
      },
    });
    // Two bundles (3 MiB) a batch, as logSourceFor sizes them for four requests in flight.
    return new TiledLogSource({ reader, url: rekor.url, bundlesPerBatch: 2 });
  };

  it('never holds more than the budget, and scans the log as with no budget to speak of', async () => {
    const rekor = await emulatorWith((dir) =>
      fillStore(join(dir, 'v2'), size, (i) => paddedV2Body(i, 6 * KiB)),
    );
    const store = new MemoryMonitorStore();
    const held = new Held(() => store.states.get('v2')?.cursor ?? 0);
    const bounded = await scan('v2', source(rekor, held), store, { readBudgetBytes: BUDGET });
    assert.equal(bounded.result.outcome, 'scanned', String(bounded.result.error));
    assert.equal(bounded.result.scanned, size);
    assert.equal(store.states.get('v2')?.cursor, size);
    const slack = CONCURRENCY * (READ_AHEAD + 1) * held.maxChunk;
    assert.ok(
      held.peak <= BUDGET + slack,
      `held ${(held.peak / MiB).toFixed(1)} MiB at once, past the ${BUDGET / MiB} MiB budget`,
    );

    const unbounded = await scan('v2', source(rekor), new MemoryMonitorStore(), {
      readBudgetBytes: 1024 * MiB,
    });
    assert.deepEqual(summary(bounded.result), summary(unbounded.result));
    assert.equal(bounded.alerts.alerts.size, unbounded.alerts.alerts.size);
  });
});

describe('the read budget on a Rekor v1 log whose retrieve answers are padded', () => {
  const ENTRIES = 480;
  /** Four answers (40 entries) a batch. */
  const BATCH = 40;
  const RETRIEVE = '/api/v1/log/entries/retrieve';

  const v1Body = (i: number): Buffer =>
    acceptProposedEntry(hashedRekordProposal(theirs, Buffer.from(`v1 entry ${i}`)).body).body;

  const source = (rekor: RekorServer, padTo: number, held?: Held): MonitoredLog => {
    const client = new RekorV1Client({
      baseUrl: rekor.url,
      logKey: rekor.publicKeyPem,
      concurrency: CONCURRENCY,
      retries: 0,
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        if (new URL(String(input)).pathname !== RETRIEVE || res.status !== 200) return res;
        const first = (JSON.parse(String(init?.body)) as { logIndexes: number[] }).logIndexes[0]!;
        const text = await res.text();
        // Whitespace after the JSON: the same answer, as large as the log (or its CDN) likes.
        const body = chunked(text + ' '.repeat(Math.max(0, padTo - text.length)), 16 * KiB);
        return new Response(held === undefined ? body : counted(body, (n) => held.add(first, n)), {
          status: 200,
          headers: { 'content-type': 'application/json' },
        });
      },
    });
    return new RekorV1Source({ client, url: rekor.url });
  };

  let rekor: RekorServer;
  const log = async () => (rekor ??= await emulatorWith((dir) => fillStore(dir, ENTRIES, v1Body)));

  it('never holds more than the budget, and scans the log as with no budget to speak of', async () => {
    const server = await log();
    const store = new MemoryMonitorStore();
    const held = new Held(() => store.states.get('v1')?.cursor ?? 0);
    const padTo = 750 * KiB; // 3 MiB a batch: half the budget holds one
    const bounded = await scan('v1', source(server, padTo, held), store, {
      batchSize: BATCH,
      readBudgetBytes: BUDGET,
    });
    assert.equal(bounded.result.outcome, 'scanned', String(bounded.result.error));
    assert.equal(bounded.result.scanned, ENTRIES);
    const slack = CONCURRENCY * (READ_AHEAD + 1) * held.maxChunk;
    assert.ok(
      held.peak <= BUDGET + slack,
      `held ${(held.peak / MiB).toFixed(1)} MiB at once, past the ${BUDGET / MiB} MiB budget`,
    );

    const unbounded = await scan('v1', source(server, 0), new MemoryMonitorStore(), { batchSize: BATCH });
    assert.deepEqual(summary(bounded.result), summary(unbounded.result));
  });

  it('reads a batch past half the budget again in smaller batches: honest large entries are scanned, not alerted (found by review)', async () => {
    const server = await log();
    const store = new MemoryMonitorStore();
    const held = new Held(() => store.states.get('v1')?.cursor ?? 0);
    const padTo = 1536 * KiB; // 6 MiB a batch of 40, past the 4 MiB half; 3 MiB a batch of 20
    const { result, alerts } = await scan('v1', source(server, padTo, held), store, {
      batchSize: BATCH,
      readBudgetBytes: BUDGET,
    });
    assert.equal(result.outcome, 'scanned', String(result.error));
    assert.equal(result.scanned, ENTRIES);
    assert.equal(alerts.ofKind('log-inconsistent').length, 0);
    const slack = CONCURRENCY * (READ_AHEAD + 1) * held.maxChunk;
    assert.ok(held.peak <= BUDGET + slack, `held ${(held.peak / MiB).toFixed(1)} MiB at once`);
    const unbounded = await scan('v1', source(server, 0), new MemoryMonitorStore(), { batchSize: BATCH });
    assert.deepEqual(summary(result), summary(unbounded.result));
  });

  it('reports one answer that cannot fit half the budget as log-inconsistent, naming the URL; the cursor stays', async () => {
    const server = await log();
    const store = new MemoryMonitorStore();
    const padTo = 5 * MiB; // one answer, of one entry, past the 4 MiB half
    const { result, alerts } = await scan('v1', source(server, padTo), store, {
      batchSize: BATCH,
      readBudgetBytes: BUDGET,
    });
    assert.equal(result.outcome, 'log-inconsistent', String(result.error));
    assert.ok(result.error instanceof LogResponseTooLargeError, String(result.error));
    assert.equal(result.scanned, 0);
    assert.equal(store.states.get('v1')?.cursor, 0, 'the cursor stays before the batch');
    const [alert] = alerts.ofKind('log-inconsistent');
    assert.ok(alert, 'the fault is alerted');
    assert.ok(alert.summary.includes(`${server.url}${RETRIEVE}`), alert.summary);
    assert.ok(alert.summary.includes(String(BUDGET / 2)), alert.summary);
    assert.equal(alert.evidence.reason, 'response-too-large');
    assert.equal(alert.evidence.logIndex, 0, 'the batch is named by its first index');
    // What is held is not measured here: the range is read again at each halving, and the bytes
    // the abandoned reads had taken are counted again by index (the test above bounds them).
  });
});

describe('the read budget in the configuration', () => {
  const v2Key = generateKeyPairSync('ed25519').publicKey;
  const config = (limits: Record<string, unknown>) => ({
    GCP_PROJECT: 'p',
    SIGSENTRY_CONFIG: JSON.stringify({
      project: 'p',
      monitor: {
        logs: [{ kind: 'rekor-v2', url: 'https://log.example', publicKey: pemOf(v2Key) }],
        identities: [{ type: 'publicKey', pem: pemOf(owned.publicKey) }],
        limits,
      },
    }),
  });

  it('is read from the limits, and refused below what one answer at its limit needs', () => {
    assert.equal(loadMonitorConfig(config({ readBudgetBytes: 96 * MiB })).limits.readBudgetBytes, 96 * MiB);
    assert.equal(loadMonitorConfig(config({})).limits.readBudgetBytes, undefined, 'the default applies');
    assert.throws(() => loadMonitorConfig(config({ readBudgetBytes: 8 * MiB })), /readBudgetBytes/);
  });

  it('sizes a tile log’s batches so that honest bundles fit the half a batch may hold', () => {
    const settings = {
      name: 'v2',
      kind: 'rekor-v2',
      url: 'https://log.example',
      publicKey: pemOf(v2Key),
    } as const;
    assert.equal(logSourceFor(settings, 32, 2).batching?.size, 16 * 256, 'the default: unchanged');
    // 256 requests in one batch would be 256 bundles; half of 48 MiB holds 24 honest ones.
    assert.equal(logSourceFor(settings, 256, 1).batching?.size, 24 * 256);
    assert.equal(logSourceFor(settings, 256, 1, 96 * MiB).batching?.size, 48 * 256);
  });
});
