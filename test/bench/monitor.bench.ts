/**
 * monitorLog benchmark (not a test): `node test/bench/monitor.bench.ts [--backlog N] [--scan N]
 * [--v2-entries N] [--only v1|v2]`.
 *
 * The log is the Rekor emulator, in this process (a worker thread, whose CPU is reported apart), with
 * 100 ms injected into every request. Each monitoring run is a child process (scan-instance.ts), as
 * the function would be: compiled, under monitorLog's deployed memory limit and NODE_OPTIONS
 * (test/bench/instance.ts), so its CPU (process.cpuUsage) and peak RSS (VmHWM) are the monitor's
 * alone, measured inside that limit.
 * Its entries are the real public entry bodies found in the fixtures (mostly keyless Fulcio
 * certificates: hashedrekord, dsse, intoto, jar; Rekor v2 hashedrekord 0.0.2), each made unique by
 * a different artifact digest, plus key-signed entries, appended straight to the log's store.
 *
 * Prints one JSON summary:
 * - v1 entries scanned per second by runMonitor with the function's default request concurrency,
 *   and by the rekor-monitor strategy (one 10-entry retrieve at a time) over the same log, and the ratio;
 * - entries parsed and matched per second on one core (CPU time) for the v1 and v2 mixes, against a
 *   naive matcher that parses every certificate (crypto.X509Certificate), and the ratio;
 * - the monitor's CPU per scanned entry in the full scans (client checks included);
 * - the v1 and v2 floors: the least CPU per entry a client of the log's API spends over the same
 *   range, step by step, each step its own instance (scan-floor-instance.ts), beside the monitor's;
 * - v1 catch-up of a backlog of `--backlog` entries (default 1,000,000), measured on a `--scan`
 *   window (default 100,000) at the end of that log, by one instance and as two fan-out shards at
 *   once, and extrapolated when the window is smaller;
 * - v2 (tile log) catch-up of `--v2-entries` (default 1,000,000), the whole log scanned as two
 *   fan-out shards at once and then by one instance;
 * - peak RSS of the monitor processes, and of this process (which holds the emulator's log index). */

import { createHash, generateKeyPairSync, type KeyObject, sign, X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { startRekorServer } from '../../emulators/rekor/server.ts';
import { LogStore } from '../../emulators/rekor/store.ts';
import { peakRssMiB } from '../../emulators/stack/memory-limit.ts';
import { DEFAULT_LIMITS } from '../../functions/monitor-log/core.ts';
import { extractVerifiers } from '../../functions/monitor-log/entry-verifiers.ts';
import {
  type OwnedIdentity,
  type ResolvedIdentity,
  resolveIdentities,
} from '../../functions/monitor-log/identities.ts';
import { IdentityMatcher } from '../../functions/monitor-log/matcher.ts';
import { canonicalJson } from '../../functions/tlog/entries/canonical.ts';
import { entryBundlePath, TILE_WIDTH } from '../../functions/tlog/tiles/path.ts';
import { compileInstanceScripts } from './compiled.ts';
import { type InstanceRun, runAsInstance } from './instance.ts';
import { onInterrupt } from './interrupt.ts';
import type { FloorFigures, FloorJob } from './scan-floor-instance.ts';
import type { ScanFigures, ScanJob } from './scan-instance.ts';

/** A scan of the bench's log; scan() adds the owned identities. */
type ScanRange = Omit<ScanJob, 'identities'>;

interface EmulatorInfo {
  url: string;
  publicKeyPem: string;
  v2PublicKeyPem: string;
  v2Origin: string;
}

/** The deployed function's request concurrency (monitorDepsFromEnv: limits.requestConcurrency ?? 32). */
const FUNCTION_REQUEST_CONCURRENCY = 32;
const DELAY_MS = 100;

async function startEmulator(
  dataDir: string,
): Promise<EmulatorInfo & { cpuMs(): Promise<number>; stop(): Promise<void> }> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { dataDir } });
  const info = await new Promise<EmulatorInfo>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const faults = await fetch(`${info.url}/__faults`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ delayMs: DELAY_MS }),
  });
  if (!faults.ok) throw new Error(`could not inject the delay: ${faults.status}`);
  return {
    ...info,
    /** CPU time of the emulator's thread so far. */
    async cpuMs() {
      const usage = new Promise<NodeJS.CpuUsage>((r) => worker.once('message', r));
      worker.postMessage('cpu');
      const { user, system } = await usage;
      return (user + system) / 1000;
    },
    async stop() {
      const exited = new Promise((r) => worker.once('exit', r));
      worker.postMessage('close');
      await exited;
    },
  };
}

/**
 * Has the log serve every entry bundle of its first `size` entries once, before the measured scans.
 * A tile log stores each bundle when it integrates it (Tessera writes it as an object) and serves it
 * as a file; the emulator instead builds a bundle from its entry store on first read, at about three
 * times the CPU of serving it again, on the cores the monitors are measured on. Uncompressed, so the
 * warm-up costs no gzip.
 */
async function warmEntryBundles(url: string, size: number): Promise<number> {
  const t = performance.now();
  const bundles = Math.ceil(size / TILE_WIDTH);
  let next = 0;
  const reader = async () => {
    for (let i = next++; i < bundles; i = next++) {
      const width = Math.min(TILE_WIDTH, size - i * TILE_WIDTH);
      const path = entryBundlePath(i, width === TILE_WIDTH ? undefined : width);
      const res = await fetch(`${url}/${path}`, { headers: { 'accept-encoding': 'identity' } });
      if (!res.ok) throw new Error(`warming ${path}: HTTP ${res.status}`);
      await res.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: 64 }, reader));
  return performance.now() - t;
}

// ---- real public entry bodies ------------------------------------------------------------
interface RealBody {
  body: Buffer;
  kind: string;
  v2: boolean;
  certificate: boolean;
  source: string;
}

function realBodies(): RealBody[] {
  const roots = ['/work/shared/fixtures', join(import.meta.dirname, '../fixtures')];
  const seen = new Map<string, RealBody>();
  const collect = (value: unknown, source: string): void => {
    if (value === null || typeof value !== 'object') return;
    for (const [k, v] of Object.entries(value)) {
      if ((k === 'canonicalizedBody' || k === 'body') && typeof v === 'string' && v.length > 100) {
        const body = Buffer.from(v, 'base64');
        let parsed: { kind?: unknown; spec?: Record<string, unknown> };
        try {
          parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
        } catch {
          continue;
        }
        if (typeof parsed.kind !== 'string' || seen.has(v)) continue;
        const v2 = Object.keys(parsed.spec ?? {}).some((s) => s.endsWith('V002'));
        const extracted = extractVerifiers(body);
        if (!extracted.ok) continue;
        seen.set(v, {
          body,
          kind: parsed.kind,
          v2,
          certificate: extracted.verifiers.some((x) => x.type === 'certificate'),
          source,
        });
      } else collect(v, source);
    }
  };
  const walk = (dir: string): void => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, d.name);
      if (d.isDirectory()) walk(path);
      else if (/\.(json|sigstore)$/.test(d.name)) {
        try {
          collect(JSON.parse(readFileSync(path, 'utf8')) as unknown, path);
        } catch {
          // not JSON
        }
      }
    }
  };
  for (const root of roots) walk(root);
  return [...seen.values()];
}

const unrelated = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const owned = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pemOf = (k: KeyObject): string => k.export({ format: 'pem', type: 'spki' }).toString();

/** A key-signed (cosign --key style) hashedrekord 0.0.1 body, canonical as Rekor stores it. */
function keyedV1(i: number): Buffer {
  const data = Buffer.from(`bench artifact ${i}`);
  return Buffer.from(
    canonicalJson({
      apiVersion: '0.0.1',
      kind: 'hashedrekord',
      spec: {
        data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(data).digest('hex') } },
        signature: {
          content: sign('sha256', data, unrelated.privateKey).toString('base64'),
          publicKey: { content: Buffer.from(pemOf(unrelated.publicKey)).toString('base64') },
        },
      },
    }),
  );
}

function keyedV2(i: number): Buffer {
  const data = Buffer.from(`bench v2 artifact ${i}`);
  return Buffer.from(
    canonicalJson({
      apiVersion: '0.0.2',
      kind: 'hashedrekord',
      spec: {
        hashedRekordV002: {
          data: { algorithm: 'SHA2_256', digest: createHash('sha256').update(data).digest('base64') },
          signature: {
            content: sign('sha256', data, unrelated.privateKey).toString('base64'),
            verifier: {
              keyDetails: 'PKIX_ECDSA_P256_SHA_256',
              publicKey: {
                rawBytes: unrelated.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
              },
            },
          },
        },
      },
    }),
  );
}

/** The same entry about another artifact: a unique leaf, the same shape and certificate. */
function replay(body: Buffer, i: number): Buffer {
  const text = body.toString('utf8');
  const digest = createHash('sha256').update(`replay ${i}`).digest();
  let out = text.replace(/"value":"([0-9a-f]+)"/, (_m, hex: string) => {
    const fill = digest
      .toString('hex')
      .repeat(Math.ceil(hex.length / 64))
      .slice(0, hex.length);
    return `"value":"${fill}"`;
  });
  if (out === text) {
    out = text.replace(/"digest":"([A-Za-z0-9+/=]+)"/, (_m, b64: string) => {
      const raw = Buffer.from(b64, 'base64');
      return `"digest":"${Buffer.concat([digest, digest, digest]).subarray(0, raw.length).toString('base64')}"`;
    });
  }
  if (out === text) throw new Error('no artifact digest to vary in a fixture body');
  return Buffer.from(out);
}

/**
 * A keyless-heavy mix like the public log's: 85 % keyless certificates (real bodies, cycled) and
 * 15 % key-signed entries.
 */
function mixer(real: RealBody[], v2: boolean): { body(i: number): Buffer; describe: Record<string, number> } {
  const keyless = real.filter((r) => r.v2 === v2 && r.certificate);
  const keyed = real.filter((r) => r.v2 === v2 && !r.certificate);
  const describe: Record<string, number> = {};
  const keyedPool = Array.from({ length: 64 }, (_, i) => (v2 ? keyedV2(i) : keyedV1(i)));
  const body = (i: number): Buffer => {
    let b: Buffer;
    let kind: string;
    if (i % 20 < 17) {
      const r = keyless[i % keyless.length]!;
      b = replay(r.body, i);
      kind = `${r.kind} keyless`;
    } else if (keyed.length > 0 && i % 20 === 17) {
      const r = keyed[i % keyed.length]!;
      b = replay(r.body, i);
      kind = `${r.kind} key`;
    } else {
      b = replay(keyedPool[i % keyedPool.length]!, i);
      kind = 'hashedrekord key';
    }
    describe[kind] = (describe[kind] ?? 0) + 1;
    return b;
  };
  return { body, describe };
}

/** Appends `n` mixed entries straight to the store in `dir` (no HTTP, no signature checks). */
function fillStore(dir: string, n: number, body: (i: number) => Buffer): number {
  const t = performance.now();
  const store = new LogStore(dir);
  for (let i = store.size; i < n; i++) store.append(body(i), { integratedTime: 1_700_000_000, keys: [] });
  store.close();
  return performance.now() - t;
}

// ---- measurements ------------------------------------------------------------------------
const cpuMs = (since: NodeJS.CpuUsage): number => {
  const d = process.threadCpuUsage(since);
  return (d.user + d.system) / 1000;
};

/**
 * Typical owned identities: the KMS key (matched by SPKI fingerprint, as a publicKey here), a
 * release engineer's keyless identity, and the organisation's GitHub Actions source repository.
 */
const OWNED_IDENTITIES: OwnedIdentity[] = [
  { type: 'publicKey', pem: pemOf(owned.publicKey), name: 'signing key' },
  { type: 'certificate', san: 'release@example.com', issuer: 'https://accounts.google.com' },
  {
    type: 'certificate',
    issuer: 'https://token.actions.githubusercontent.com',
    extensions: { '1.3.6.1.4.1.57264.1.12': 'https://github.com/example-org/app' },
  },
];

function identitiesFor(): Promise<ResolvedIdentity[]> {
  return resolveIdentities(OWNED_IDENTITIES, () => Promise.reject(new Error('no KMS in the bench')));
}

/** sigsentry's hot path: byte-level extraction, fingerprints, literal prefilter. */
function matchFast(matcher: IdentityMatcher, bodies: Buffer[]): number {
  let matches = 0;
  for (const body of bodies) {
    const ex = extractVerifiers(body);
    if (!ex.ok) throw new Error(ex.message);
    for (const v of ex.verifiers) matches += matcher.match(v).length;
  }
  return matches;
}

/** The naive way: every certificate fully parsed (what a monitor on crypto/x509 does per entry). */
function matchNaive(keySha256: Set<string>, san: string, bodies: Buffer[]): number {
  let matches = 0;
  for (const body of bodies) {
    const ex = extractVerifiers(body);
    if (!ex.ok) throw new Error(ex.message);
    for (const v of ex.verifiers) {
      if (v.type === 'publicKey') {
        if (keySha256.has(createHash('sha256').update(v.der).digest('hex'))) matches++;
        continue;
      }
      const cert = new X509Certificate(v.der);
      const spki = cert.publicKey.export({ format: 'der', type: 'spki' });
      if (keySha256.has(createHash('sha256').update(spki).digest('hex'))) matches++;
      if (cert.subjectAltName?.includes(san) || cert.fingerprint256 === '') matches++;
    }
  }
  return matches;
}

function perCore(label: string, bodies: Buffer[], identities: ResolvedIdentity[]) {
  const matcher = new IdentityMatcher(identities);
  const keys = new Set(identities.flatMap((i) => (i.type === 'key' ? [i.keySha256] : [])));
  matchFast(matcher, bodies.slice(0, 2000)); // warm up both paths
  matchNaive(keys, 'release@example.com', bodies.slice(0, 2000));
  matcher.fullParses = 0;
  const rounds = 3;
  let c = process.threadCpuUsage();
  let fastMatches = 0;
  for (let r = 0; r < rounds; r++) fastMatches += matchFast(matcher, bodies);
  const fastMs = cpuMs(c);
  c = process.threadCpuUsage();
  let naiveMatches = 0;
  for (let r = 0; r < rounds; r++) naiveMatches += matchNaive(keys, 'release@example.com', bodies);
  const naiveMs = cpuMs(c);
  const n = rounds * bodies.length;
  const fast = Math.round((n * 1000) / fastMs);
  const naive = Math.round((n * 1000) / naiveMs);
  return {
    log: label,
    entries: n,
    parsedAndMatchedPerSecondPerCore: fast,
    naiveFullCertificateParsePerSecondPerCore: naive,
    ratio: Number((fast / naive).toFixed(2)),
    fullCertificateParses: matcher.fullParses,
    matches: { sigsentry: fastMatches, naive: naiveMatches },
  };
}

/** One scan in its own process, as one monitorLog instance under its deployed memory limit. */
async function scan(job: ScanRange): Promise<ScanFigures & { memory: InstanceRun['memory'] }> {
  const run = await runAsInstance('monitorLog', join(import.meta.dirname, 'scan-instance.ts'), [
    JSON.stringify({ ...job, identities: OWNED_IDENTITIES } satisfies ScanJob),
  ]);
  return { ...(JSON.parse(run.stdout) as ScanFigures), memory: run.memory };
}

/**
 * The least CPU a scan can spend per entry (scan-floor-instance.ts), each level its own instance
 * over the range the monitor scanned, beside the monitor's own figure of the same run.
 */
async function scanFloor(range: Omit<FloorJob, 'level' | 'identities'>, monitorCpuMsPerEntry: number) {
  const levels: FloorFigures[] = [];
  for (const level of [0, 1, 2, 3, 4] as const) {
    const job: FloorJob = { ...range, level, identities: OWNED_IDENTITIES };
    const run = await runAsInstance('monitorLog', join(import.meta.dirname, 'scan-floor-instance.ts'), [
      '--floor-job',
      JSON.stringify(job),
    ]);
    levels.push(JSON.parse(run.stdout) as FloorFigures);
  }
  const floor = levels[3]!.cpuMsPerEntry;
  return {
    note:
      range.kind === 'rekor-v1'
        ? 'CPU per entry of a bare client (node:http, no checks) as a monitorLog instance, over the range the monitor scanned: 0 the HTTP exchange, 1 + JSON.parse, 2 + body and proof decoded and the leaf hashed, 3 + sigsentry parse + match (the floor); 4 sigsentry client (RekorV1Client.scanEntries, every check) + parse + match, without the scan'
        : 'CPU per entry of a bare client (node:http, no checks) as a monitorLog instance, over the whole bundles the monitor scanned: 0 the gzipped bundle, 1 + gunzip, 2 + entries split, leaf-hashed and hashed up to the bundle root, 3 + sigsentry parse + match (the floor); 4 sigsentry client (TiledLogSource over RekorV2Client.getEntries, every check) + parse + match, without the scan',
    entries: levels[0]!.entries,
    levels: levels.map(({ level, cpuMsPerEntry, systemCpuMsPerEntry, majorGcs }) => ({
      level,
      cpuMsPerEntry,
      systemCpuMsPerEntry,
      majorGcs,
    })),
    floorEntriesPerSecondPerCore: Math.round(1000 / floor),
    monitorOverFloor: Number((monitorCpuMsPerEntry / floor).toFixed(2)),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      backlog: { type: 'string', default: '1000000' },
      scan: { type: 'string', default: '100000' },
      'rekor-monitor-entries': { type: 'string', default: '500' },
      'v2-entries': { type: 'string', default: '1000000' },
      'per-core-entries': { type: 'string', default: '20000' },
      /** `v1` or `v2`: measure one log kind only. */
      only: { type: 'string' },
    },
  });
  const only = values.only;
  if (only !== undefined && only !== 'v1' && only !== 'v2') throw new Error('--only is v1 or v2');
  const BACKLOG = Number(values.backlog);
  const SCAN = Math.min(BACKLOG, Number(values.scan));
  const RM = Number(values['rekor-monitor-entries']);
  const V2 = Number(values['v2-entries']);
  const PER_CORE = Number(values['per-core-entries']);

  compileInstanceScripts(); // before anything is timed: the fan-out's wall time starts the instances
  const real = realBodies();
  const v1mix = mixer(real, false);
  const v2mix = mixer(real, true);
  const identities = await identitiesFor();
  const dir = mkdtempSync(join(tmpdir(), 'monitor-bench-'));
  const forget = onInterrupt(() => rmSync(dir, { recursive: true, force: true }));
  let monitorRss = 0;
  const summary: Record<string, unknown> = {
    machine: { cores: (await import('node:os')).availableParallelism(), node: process.version },
    injectedLatencyMsPerRequest: DELAY_MS,
    fixtures: {
      realBodies: real.length,
      v1Keyless: real.filter((r) => !r.v2 && r.certificate).length,
      v1Keyed: real.filter((r) => !r.v2 && !r.certificate).length,
      v2Keyless: real.filter((r) => r.v2 && r.certificate).length,
    },
  };
  try {
    // 1. Parse and match, one core, in memory.
    const mixes = [
      { log: 'rekor-v1', kind: 'v1', mix: v1mix },
      { log: 'rekor-v2', kind: 'v2', mix: v2mix },
    ].filter((m) => only === undefined || only === m.kind);
    summary.parseAndMatch = mixes.map(({ log, mix }) =>
      perCore(
        log,
        Array.from({ length: PER_CORE }, (_, i) => mix.body(i)),
        identities,
      ),
    );
    summary.mix = Object.fromEntries(mixes.map(({ kind, mix }) => [kind, { ...mix.describe }]));

    // 2. The backlog logs: BACKLOG v1 entries and V2 v2 entries, appended straight to the stores.
    const v1Entries = only === 'v2' ? 0 : BACKLOG;
    const v2Entries = only === 'v1' ? 0 : V2;
    const appendV1Ms = fillStore(dir, v1Entries, v1mix.body);
    const appendV2Ms = fillStore(join(dir, 'v2'), v2Entries, v2mix.body);
    const t = performance.now();
    const emulator = await startEmulator(dir);
    const loadMs = performance.now() - t;
    const logFigures: Record<string, number> = {
      v1Entries,
      v2Entries,
      directAppendV1Ms: Math.round(appendV1Ms),
      directAppendV2Ms: Math.round(appendV2Ms),
      emulatorLoadMs: Math.round(loadMs),
    };
    summary.log = logFigures;
    try {
      const v1 = { kind: 'rekor-v1', url: emulator.url, publicKey: emulator.publicKeyPem } as const;
      const v2 = {
        kind: 'rekor-v2',
        url: emulator.url,
        publicKey: emulator.v2PublicKeyPem,
        origin: emulator.v2Origin,
      } as const;
      const withLogCpu = async (job: ScanRange) => {
        const before = await emulator.cpuMs();
        const figures = await scan(job);
        const logMs = (await emulator.cpuMs()) - before;
        return { ...figures, logCpuMsPerEntry: Number((logMs / Math.max(1, figures.entries)).toFixed(4)) };
      };
      /**
       * [from, to) as two shards scanned at once by two monitor processes, as two function
       * instances would after a fan-out (here they share this machine's two cores with the log).
       */
      const fanOut = async (log: typeof v1 | typeof v2, from: number, to: number) => {
        const mid = from + Math.floor((to - from) / 2);
        const shard = (a: number, b: number, i: number): ScanRange => ({
          name: `${log.kind}-shard-${i}`,
          ...log,
          concurrency: FUNCTION_REQUEST_CONCURRENCY,
          from: a,
          to: b,
        });
        const t0 = performance.now();
        const logBefore = await emulator.cpuMs();
        const shards = await Promise.all([scan(shard(from, mid, 0)), scan(shard(mid, to, 1))]);
        const wallMs = performance.now() - t0;
        const entries = shards.reduce((n, f) => n + f.entries, 0);
        return {
          shards,
          instances: shards.length,
          entries,
          wallMs: Math.round(wallMs),
          entriesPerSecond: Math.round((entries * 1000) / wallMs),
          monitorCpuMsPerEntry: Number(
            (shards.reduce((n, f) => n + f.monitorCpuMsPerEntry * f.entries, 0) / entries).toFixed(4),
          ),
          logCpuMsPerEntry: Number((((await emulator.cpuMs()) - logBefore) / entries).toFixed(4)),
          note: 'two shard processes and the log share this machine’s two cores',
        };
      };
      const rss: number[] = [];

      if (v1Entries > 0) {
        // 3. v1: sigsentry's defaults vs the rekor-monitor strategy, over the tail of the backlog.
        const rm = await withLogCpu({ name: 'rekor-monitor', ...v1, concurrency: 1, from: BACKLOG - RM });
        const ss = await withLogCpu({
          name: 'sigsentry',
          ...v1,
          concurrency: FUNCTION_REQUEST_CONCURRENCY,
          from: BACKLOG - SCAN,
        });
        summary.v1Scan = {
          sigsentry: { requestConcurrency: FUNCTION_REQUEST_CONCURRENCY, batchSize: 1000, ...ss },
          rekorMonitorStrategy: { requestConcurrency: 1, entriesPerRequest: 10, ...rm },
          ratio: Number((ss.entriesPerSecond / rm.entriesPerSecond).toFixed(1)),
          target: '>= 2300 entries/s (10x the public log growth of ~227/s)',
          // A 1000-entry batch is 100 retrieves, 32 in flight = 4 round trips; DEFAULT_LIMITS.readAhead
          // batches are read at once while one is matched.
          latencyBoundAtDefaults: Math.round(
            (DEFAULT_LIMITS.readAhead * 1000) /
              (Math.ceil(1000 / 10 / FUNCTION_REQUEST_CONCURRENCY) * (DELAY_MS / 1000)),
          ),
          monitorCpuEntriesPerSecondPerCore: Math.round(1000 / ss.monitorCpuMsPerEntry),
        };
        const { shards, ...fan } = await fanOut(v1, BACKLOG - SCAN, BACKLOG);
        summary.v1FanOut = fan;
        const extrapolated = SCAN < BACKLOG;
        summary.v1CatchUp = {
          backlogEntries: BACKLOG,
          scannedEntries: ss.entries,
          extrapolatedFromScan: extrapolated,
          note: extrapolated
            ? `${ss.entries} entries at the end of a ${BACKLOG}-entry log scanned; the catch-up time is ${BACKLOG} / that rate`
            : 'the whole backlog scanned',
          oneInstanceSeconds: Math.round(BACKLOG / ss.entriesPerSecond),
          twoInstancesSeconds: Math.round(BACKLOG / fan.entriesPerSecond),
          instancesForUnderAMinute: Math.ceil(BACKLOG / ss.entriesPerSecond / 60),
        };
        rss.push(rm.monitorPeakRssMiB, ss.monitorPeakRssMiB, ...shards.map((f) => f.monitorPeakRssMiB));
        summary.v1ScanFloor = await scanFloor(
          {
            kind: 'rekor-v1',
            url: emulator.url,
            publicKey: emulator.publicKeyPem,
            from: BACKLOG - SCAN,
            to: BACKLOG,
            concurrency: FUNCTION_REQUEST_CONCURRENCY,
          },
          ss.monitorCpuMsPerEntry,
        );
      }

      if (v2Entries > 0) {
        // 4. v2: the whole tile log, same latency, as two shards at once and then by one
        // instance, both on a log that has built its bundles (see warmEntryBundles).
        logFigures.v2BundleWarmUpMs = Math.round(await warmEntryBundles(v2.url, V2));
        const { shards, ...fan } = await fanOut(v2, 0, V2);
        summary.v2FanOut = fan;
        const s2 = await withLogCpu({
          name: 'sigsentry-v2',
          ...v2,
          concurrency: FUNCTION_REQUEST_CONCURRENCY,
          from: 0,
        });
        summary.v2Scan = {
          sigsentry: { requestConcurrency: FUNCTION_REQUEST_CONCURRENCY, ...s2 },
          monitorCpuEntriesPerSecondPerCore: Math.round(1000 / s2.monitorCpuMsPerEntry),
        };
        summary.v2CatchUp = {
          backlogEntries: V2,
          note: 'the whole backlog scanned, all checks on every entry',
          oneInstanceSeconds: Number((s2.wallMs / 1000).toFixed(1)),
          twoInstancesSeconds: Number((fan.wallMs / 1000).toFixed(1)),
          target: '< 60 s',
        };
        rss.push(s2.monitorPeakRssMiB, ...shards.map((f) => f.monitorPeakRssMiB));
        summary.v2ScanFloor = await scanFloor(
          {
            kind: 'rekor-v2',
            url: emulator.url,
            publicKey: emulator.v2PublicKeyPem,
            origin: emulator.v2Origin,
            from: 0,
            to: V2 - (V2 % TILE_WIDTH), // whole bundles
            concurrency: FUNCTION_REQUEST_CONCURRENCY,
          },
          s2.monitorCpuMsPerEntry,
        );
      }
      monitorRss = Math.max(...rss);
    } finally {
      await emulator.stop();
    }
  } finally {
    forget();
    rmSync(dir, { recursive: true, force: true });
  }
  summary.memory = {
    monitorPeakRssMiB: monitorRss,
    benchPeakRssMiB: peakRssMiB(process.pid),
    note: 'monitor: the largest peak RSS of the scan processes (runMonitor alone); bench: this process, which holds the emulator and its log index',
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
}

// ---- the emulator, in a worker thread of this process --------------------------------------
if (!isMainThread) {
  const server = await startRekorServer({ dataDir: (workerData as { dataDir: string }).dataDir });
  parentPort!.postMessage({
    url: server.url,
    publicKeyPem: server.publicKeyPem,
    v2PublicKeyPem: server.v2PublicKeyPem,
    v2Origin: server.v2Origin,
  } satisfies EmulatorInfo);
  parentPort!.on('message', (m: string) => {
    if (m === 'cpu') parentPort!.postMessage(process.threadCpuUsage());
    else void server.close().then(() => process.exit(0));
  });
} else {
  await main();
}
