/**
 * reverifyImages benchmark (not a test): `node test/bench/reverify.bench.ts [--tags 10000] [--digests 1000]`.
 *
 * A docker-registry started here holds `--tags` tags over `--digests` small distinct images (each
 * signed in both layouts, as signOnPush signs: cosign `.sig` and a Sigstore bundle referrer, with a
 * LocalSigner and the Rekor emulator), spread over 20 repositories. The passes run in a child
 * process, as the function would, so its CPU and peak RSS are reverifyOnce's alone (the emulator
 * and the signing stay in this process): a cold pass (empty MemoryTagStore: every digest's
 * signatures downloaded and verified, their log entries read and proven in the log's current
 * checkpoint, its tree recorded), a warm pass (recorded verdicts: unchanged signatures are not
 * downloaded again; the log has not grown, so the recorded tree is the current one) and a steady
 * pass, as every later pass is (the log has grown by an entry; each entry's recorded tree is proven
 * extended by the current one, one consistency proof, no entry read).
 *
 * Prints one JSON summary: wall time per pass, tags per second, CPU ms per tag and per distinct
 * digest verified (process.cpuUsage of the pass process), and peak RSS.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startRekorServer } from '../../emulators/rekor/server.ts';
import { peakRssMiB } from '../../emulators/stack/memory-limit.ts';
import { MemoryAlertSink } from '../../functions/alerts/memory-sink.ts';
import { createMemoryLogger } from '../../functions/logging/logger.ts';
import { RegistryClient } from '../../functions/registry/client.ts';
import { type ReverifySummary, reverifyOnce } from '../../functions/reverify/core.ts';
import { InclusionRechecker } from '../../functions/reverify/inclusion.ts';
import { MemoryTagStore } from '../../functions/reverify/store.ts';
import { MemoryUnverifiedStore } from '../../functions/reverify/unverified.ts';
import { LocalSigner } from '../../functions/signing/local-signer.ts';
import { RekorV1Client } from '../../functions/tlog/client/rekor-v1.ts';
import { expectedKeyFromPem } from '../../functions/verify/policy.ts';
import { logKey } from '../../functions/verify/trust.ts';
import { appendFillerEntry } from '../helpers/hashedrekord.ts';
import { startRegistry } from '../helpers/registry.ts';
import { signImage } from '../helpers/sign-image.ts';
import { runAsInstance } from './instance.ts';
import { onInterrupt } from './interrupt.ts';

const KEY_VERSION = 'projects/bench/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1';
/** reverify/config.ts: concurrency defaults to 32. */
const FUNCTION_CONCURRENCY = 32;
const REPOSITORIES = 20;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

interface PassJob {
  host: string;
  rekorUrl: string;
  rekorPem: string;
  signerPem: string;
  concurrency: number;
}

interface PassFigures {
  tags: number;
  wallMs: number;
  tagsPerSecond: number;
  cpuMs: number;
  cpuMsPerTag: number;
  valid: number;
  cached: number;
  errors: number;
}

async function runPasses(job: PassJob) {
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

/** The passes in their own process, as one reverifyImages instance under its deployed memory limit. */
async function passesInChild(job: PassJob) {
  const run = await runAsInstance('reverifyImages', import.meta.filename, [
    '--pass-job',
    JSON.stringify(job),
  ]);
  return { ...(JSON.parse(run.stdout) as Awaited<ReturnType<typeof runPasses>>), memory: run.memory };
}

/** Runs `fn` over 0..n-1 with `width` in flight. */
async function pool(n: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { tags: { type: 'string', default: '10000' }, digests: { type: 'string', default: '1000' } },
  });
  const TAGS = Number(values.tags);
  const DIGESTS = Math.min(TAGS, Number(values.digests));
  const dir = mkdtempSync(join(tmpdir(), 'reverify-bench-'));
  const testRegistry = await startRegistry();
  const rekor = await startRekorServer({ dataDir: dir });
  const stop = async () => {
    await rekor.close();
    await testRegistry.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  const forget = onInterrupt(stop);
  try {
    const host = testRegistry.host;
    const registry = new RegistryClient({ allowedHosts: [host] });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const signer = new LocalSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    const repoOf = (i: number) => ({ host, repository: `bench/app-${i % REPOSITORIES}` });

    // Small distinct images: a unique config blob each, one shared layer.
    const layer = Buffer.from('sigsentry reverify bench layer\n');
    let t = performance.now();
    const manifests: Buffer[] = [];
    await pool(DIGESTS, 16, async (i) => {
      const repo = repoOf(i);
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed: i }));
      const c = await registry.putBlob(repo, config, 'application/vnd.oci.image.config.v1+json');
      const l = await registry.putBlob(repo, layer, 'application/vnd.oci.image.layer.v1.tar');
      const manifest = Buffer.from(
        JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: c, layers: [l] }),
      );
      manifests[i] = manifest;
      await registry.putManifest(repo, `d${i}`, manifest, OCI_MANIFEST);
    });
    const pushImagesMs = performance.now() - t;
    t = performance.now();
    await pool(DIGESTS, 8, async (i) => {
      const repo = repoOf(i);
      const { digest } = await registry.resolve({ ...repo, tag: `d${i}` });
      await signImage({ registry, signer, rekorUrl: rekor.url }, { ...repo, digest });
    });
    const signMs = performance.now() - t;
    // The other tags point at the same digests (a tag per release channel, per build, ...).
    t = performance.now();
    await pool(TAGS - DIGESTS, 16, async (k) => {
      const i = k % DIGESTS;
      await registry.putManifest(repoOf(i), `t${k}`, manifests[i]!, OCI_MANIFEST);
    });
    const tagMs = performance.now() - t;

    const passes = await passesInChild({
      host,
      rekorUrl: rekor.url,
      rekorPem: rekor.publicKeyPem,
      signerPem: signer.publicKeyPem,
      concurrency: FUNCTION_CONCURRENCY,
    });
    const perDigest = (p: PassFigures) => Number((p.cpuMs / DIGESTS).toFixed(3));
    const summary = {
      setup: {
        tags: TAGS,
        distinctSignedDigests: DIGESTS,
        repositories: REPOSITORIES,
        layouts: ['cosign', 'bundle'],
        pushImagesMs: Math.round(pushImagesMs),
        signMs: Math.round(signMs),
        extraTagsMs: Math.round(tagMs),
      },
      concurrency: FUNCTION_CONCURRENCY,
      cold: { ...passes.cold, cpuMsPerDistinctDigest: perDigest(passes.cold) },
      warm: { ...passes.warm, cpuMsPerDistinctDigest: perDigest(passes.warm) },
      steady: { ...passes.steady, cpuMsPerDistinctDigest: perDigest(passes.steady) },
      targets: { warmUnderSeconds: 60, cpuMsPerVerification: 1, peakRssMiB: 256 },
      peakRssMiB: passes.peakRssMiB,
      memory: passes.memory,
      afterPasses: passes.afterPasses,
      note: 'CPU and RSS are those of the pass process alone (reverifyOnce, registry and log clients); the registry and the Rekor emulator run elsewhere. Tags sharing a digest are verified once per pass (memo), so CPU is given per tag and per distinct digest.',
    };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } finally {
    forget();
    await stop();
  }
}

if (process.argv.includes('--pass-job')) {
  const job = JSON.parse(process.argv[process.argv.indexOf('--pass-job') + 1]!) as PassJob;
  process.stdout.write(`${JSON.stringify(await runPasses(job))}\n`);
} else {
  await main();
}
