/**
 * reverifyImages benchmark (not a test): `node test/bench/reverify.bench.ts [--tags 10000] [--digests 1000]`.
 *
 * A docker-registry started here holds `--tags` tags over `--digests` small distinct images (each
 * signed in both layouts, as signOnPush signs: cosign `.sig` and a Sigstore bundle referrer, with a
 * LocalSigner and the Rekor emulator), spread over 20 repositories. The passes run in a child
 * process (reverify-instance.ts), as the function would, compiled and holding what a deployed
 * instance holds, so its CPU and peak RSS are reverifyImages' alone (the emulator and the signing
 * stay in this process): a cold pass (empty MemoryTagStore: every digest's
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
import { RegistryClient } from '../../functions/registry/client.ts';
import { LocalSigner } from '../../functions/signing/local-signer.ts';
import { startRegistry } from '../helpers/registry.ts';
import { signImage } from '../helpers/sign-image.ts';
import { runAsInstance } from './instance.ts';
import { onInterrupt } from './interrupt.ts';
import type { PassesFigures, PassFigures, PassJob } from './reverify-instance.ts';

/** reverify/config.ts: concurrency defaults to 32. */
const FUNCTION_CONCURRENCY = 32;
const REPOSITORIES = 20;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** The passes in their own process, as one reverifyImages instance under its deployed memory limit. */
async function passesInChild(job: PassJob) {
  const run = await runAsInstance('reverifyImages', join(import.meta.dirname, 'reverify-instance.ts'), [
    JSON.stringify(job),
  ]);
  return { ...(JSON.parse(run.stdout) as PassesFigures), memory: run.memory };
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

await main();
