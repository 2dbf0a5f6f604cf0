/**
 * One monitoring run, run by monitor.bench.ts as a monitorLog instance (instance.ts: compiled, under
 * the deployed memory limit and NODE_OPTIONS): `scan-instance.js <ScanJob as JSON>`. Its CPU and
 * peak RSS are the monitor's alone (the log stays in the bench's process); it prints ScanFigures.
 *
 * It loads functions/index.ts first, with FUNCTION_TARGET=monitorLog, so it holds what a deployed
 * instance holds before its first run (the framework's source and the monitor's modules), and only
 * the few modules below besides. The state, alerts and signing records are in memory; the Google
 * clients a deployed run calls are held too (deployed-clients.ts).
 */
import '../../functions/index.ts';
import { peakRssMiB } from '../../emulators/stack/memory-limit.ts';
import { MemoryAlertSink } from '../../functions/alerts/memory-sink.ts';
import { createMemoryLogger } from '../../functions/logging/logger.ts';
import { type MonitorRunResult, runMonitor } from '../../functions/monitor-log/core.ts';
import { logSourceFor } from '../../functions/monitor-log/from-env.ts';
import { type OwnedIdentity, resolveIdentities } from '../../functions/monitor-log/identities.ts';
import { StaticSigningRecordLookup } from '../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../functions/monitor-log/state.ts';
import { holdDeployedClients } from './deployed-clients.ts';
import { gcPauses } from './gc.ts';

export interface ScanJob {
  name: string;
  kind: 'rekor-v1' | 'rekor-v2';
  url: string;
  publicKey: string;
  origin?: string;
  concurrency: number;
  from: number;
  /** End of the range (a fan-out shard); default the head. */
  to?: number;
  /** The identities the monitor watches for (public keys only: there is no KMS here). */
  identities: OwnedIdentity[];
}

export interface ScanFigures {
  entries: number;
  wallMs: number;
  entriesPerSecond: number;
  /** The monitor process's CPU (all its threads) per scanned entry, client checks included. */
  monitorCpuMsPerEntry: number;
  monitorPeakRssMiB: number;
  outcome: string;
  alerts: number;
  /** Garbage collection pauses on the main thread during the scan, by kind (PerformanceObserver 'gc'). */
  gcMs: Record<string, number>;
  /** How many of each kind. A major one's marking runs mostly on V8's background threads, so its CPU is not in gcMs. */
  gcCount: Record<string, number>;
}

async function scanJob(job: ScanJob): Promise<ScanFigures> {
  const log = logSourceFor(
    {
      name: job.name,
      kind: job.kind,
      url: job.url,
      publicKey: job.publicKey,
      ...(job.origin ? { origin: job.origin } : {}),
    },
    job.concurrency,
  );
  const alerts = new MemoryAlertSink();
  const deps = {
    logs: [{ name: job.name, log, startIndex: job.from }],
    store: new MemoryMonitorStore(),
    alerts,
    records: new StaticSigningRecordLookup(),
    identities: await resolveIdentities(job.identities, () =>
      Promise.reject(new Error('no KMS in the bench')),
    ),
    logger: createMemoryLogger(),
    limits: {
      timeBudgetMs: 3_600_000,
      ...(job.to !== undefined ? { maxEntriesPerRun: job.to - job.from } : {}),
    },
  };
  const c = process.cpuUsage();
  const t = performance.now();
  const stopGc = gcPauses();
  const result: MonitorRunResult = await runMonitor(deps);
  const wallMs = performance.now() - t;
  const cpu = process.cpuUsage(c);
  const gc = stopGc();
  const r = result.logs[0]!;
  const expected = job.to !== undefined ? ['scanned', 'partial'] : ['scanned'];
  if (!expected.includes(r.outcome)) {
    throw new Error(`scan of ${job.name} ended ${r.outcome}: ${String(r.error)}`);
  }
  return {
    entries: r.scanned,
    wallMs: Math.round(wallMs),
    entriesPerSecond: Math.round((r.scanned * 1000) / wallMs),
    monitorCpuMsPerEntry: Number(((cpu.user + cpu.system) / 1000 / Math.max(1, r.scanned)).toFixed(4)),
    monitorPeakRssMiB: peakRssMiB(process.pid),
    outcome: r.outcome,
    alerts: alerts.raised.length,
    gcMs: gc.ms,
    gcCount: gc.count,
  };
}

const clients = await holdDeployedClients();
const job = JSON.parse(process.argv[2] ?? '') as ScanJob;
const figures = await scanJob(job);
await clients.close();
process.stdout.write(`${JSON.stringify(figures)}\n`);
