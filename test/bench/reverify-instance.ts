/**
 * The reverification passes, run by reverify.bench.ts as a reverifyImages instance (instance.ts:
 * compiled, under the deployed memory limit): `reverify-instance.js <PassJob as JSON>`. Its CPU and
 * peak RSS are the passes' alone (the registry, the log and the signing stay in the bench's
 * process); it prints PassesFigures.
 *
 * It loads functions/index.ts first, with FUNCTION_TARGET=reverifyImages, so it holds what a
 * deployed instance holds before its first pass (the framework's source and reverify's modules),
 * and the Google clients a deployed pass has called (deployed-clients.ts); the tag store, the
 * unverified marks and the alerts are in memory.
 */
import '../../functions/index.ts';
import { peakRssMiB } from '../../emulators/stack/memory-limit.ts';
import { MemoryAlertSink } from '../../functions/alerts/memory-sink.ts';
import { createMemoryLogger } from '../../functions/logging/logger.ts';
import { RegistryClient } from '../../functions/registry/client.ts';
import { type ReverifySummary, reverifyOnce } from '../../functions/reverify/core.ts';
import { InclusionRechecker } from '../../functions/reverify/inclusion.ts';
import { MemoryTagStore } from '../../functions/reverify/store.ts';
import { MemoryUnverifiedStore } from '../../functions/reverify/unverified.ts';
import { RekorV1Client } from '../../functions/tlog/client/rekor-v1.ts';
import { expectedKeyFromPem } from '../../functions/verify/policy.ts';
import { logKey } from '../../functions/verify/trust.ts';
import { appendFillerEntry } from '../helpers/hashedrekord.ts';
import { holdDeployedClients } from './deployed-clients.ts';

/** The owned key's version name (the bench signs with a LocalSigner; no KMS is asked). */
const KEY_VERSION = 'projects/bench/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1';

export interface PassJob {
  host: string;
  rekorUrl: string;
  rekorPem: string;
  signerPem: string;
  concurrency: number;
}

export interface PassFigures {
  tags: number;
  wallMs: number;
  tagsPerSecond: number;
  cpuMs: number;
  cpuMsPerTag: number;
  valid: number;
  cached: number;
  errors: number;
}

export interface PassesFigures {
  cold: PassFigures;
  warm: PassFigures;
  steady: PassFigures;
  peakRssMiB: number;
  afterPasses: { heapUsedMiB: number; externalMiB: number };
}

async function runPasses(job: PassJob): Promise<PassesFigures> {
  const registry = new RegistryClient({ allowedHosts: [job.host] });
  const client = new RekorV1Client({ baseUrl: job.rekorUrl, logKey: job.rekorPem });
  const store = new MemoryTagStore();
  const deps = () => ({
    registry,
    store,
    unverified: new MemoryUnverifiedStore(),
    alerts: new MemoryAlertSink(),
    trust: { logs: [logKey(job.rekorUrl, job.rekorPem)] },
    ownedPolicy: {
      keys: [{ ...expectedKeyFromPem(job.signerPem), keyVersion: KEY_VERSION }],
      identities: [],
    },
    watch: [`${job.host}/bench/**`],
    watchlist: [],
    keyState: async () => 'ENABLED',
    inclusion: new InclusionRechecker({ client, baseUrl: job.rekorUrl }),
    logger: createMemoryLogger(),
    concurrency: job.concurrency,
  });
  const pass = async (): Promise<PassFigures> => {
    const c = process.cpuUsage();
    const t = performance.now();
    const s: ReverifySummary = await reverifyOnce(deps());
    const wallMs = performance.now() - t;
    const cpu = process.cpuUsage(c);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    return {
      tags: s.tags,
      wallMs: Math.round(wallMs),
      tagsPerSecond: Math.round((s.tags * 1000) / wallMs),
      cpuMs: Math.round(cpuMs),
      cpuMsPerTag: Number((cpuMs / Math.max(1, s.tags)).toFixed(3)),
      valid: s.byStatus.valid,
      cached: s.cached,
      errors: s.errors.length,
    };
  };
  const cold = await pass();
  const warm = await pass();
  await appendFillerEntry(job.rekorUrl, `reverify bench: the log grows between passes ${Date.now()}`);
  const steady = await pass();
  const { heapUsed, external } = process.memoryUsage();
  return {
    cold,
    warm,
    steady,
    peakRssMiB: peakRssMiB(process.pid),
    afterPasses: { heapUsedMiB: Math.round(heapUsed / 2 ** 20), externalMiB: Math.round(external / 2 ** 20) },
  };
}

const clients = await holdDeployedClients();
const figures = await runPasses(JSON.parse(process.argv[2] ?? '') as PassJob);
await clients.close();
process.stdout.write(`${JSON.stringify(figures)}\n`);
