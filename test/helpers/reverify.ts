/**
 * reverifyOnce's world for one unit test file: a real docker-registry behind a recording proxy (whose
 * host is the one passes see), the Rekor emulator, and a local P-256 signer standing in for the owned
 * KMS key version. Started in the enclosing `describe`'s `before`, stopped in its `after`: read its
 * servers and clients inside hooks and tests.
 *
 *   const harness = reverifyHarness('reverify-rekor');
 *   const deps = () => harness.deps({ store, alerts, watch: [`${harness.host}/team/**`] });
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before } from 'node:test';
import type { RekorServer } from '../../emulators/rekor/server.ts';
import { createMemoryLogger } from '../../functions/logging/logger.ts';
import { RegistryClient } from '../../functions/registry/client.ts';
import type { DigestReference } from '../../functions/registry/reference.ts';
import { type ReverifyDeps, type ReverifySummary, reverifyOnce } from '../../functions/reverify/core.ts';
import { InclusionRechecker } from '../../functions/reverify/inclusion.ts';
import { MemoryUnverifiedStore } from '../../functions/reverify/unverified.ts';
import { LocalSigner } from '../../functions/signing/local-signer.ts';
import { RekorV1Client } from '../../functions/tlog/client/rekor-v1.ts';
import { expectedKeyFromPem } from '../../functions/verify/policy.ts';
import { logKey } from '../../functions/verify/trust.ts';
import type { RecordingAlertSink } from './recording-alert-sink.ts';
import {
  type ProxyIntercept,
  startProxy,
  startRegistry,
  type TestProxy,
  type TestRegistry,
} from './registry.ts';
import { startTestLog, type TestLog } from './rekor.ts';
import { signImage } from './sign-image.ts';

/** The KMS key version the harness's signer stands in for: the one key of the owned policy. */
export const OWNED_KEY_VERSION = 'projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1';

/** What a pass is given besides what every pass of a harness shares (which it may replace too). */
export type PassParts = Pick<ReverifyDeps, 'store' | 'alerts' | 'watch'> & Partial<ReverifyDeps>;

export interface ReverifyHarness {
  /** The docker-registry images are pushed to. */
  readonly testRegistry: TestRegistry;
  /** The proxy in front of it, recording every request. */
  readonly proxy: TestProxy;
  /** The proxy's host: the HOST of the image references passes see. */
  readonly host: string;
  readonly log: TestLog;
  /** `log.rekor`. */
  readonly rekor: RekorServer;
  /** A registry client allowed to reach `host` only. */
  readonly registry: RegistryClient;
  /** A client of the log, which every pass's InclusionRechecker reads through. */
  readonly logClient: RekorV1Client;
  /** The owned key (OWNED_KEY_VERSION). */
  readonly signer: LocalSigner;
  /** `HOST/repository:tag`. */
  ref(repository: string, tag: string): string;
  /** Pushes an image under `repository:tag` (its content from `seed`); the image by digest. */
  push(repository: string, tag: string, seed?: string): Promise<DigestReference>;
  /**
   * A pass's dependencies: `registry`, the log trusted and its entries re-checked by a fresh
   * InclusionRechecker (reading through `logFetch` when given), the signer's key owned and ENABLED, no
   * watchlist, a fresh unverified store and logger, concurrency 4; `parts` give the rest and replace any.
   */
  deps(parts: PassParts, logFetch?: typeof fetch): ReverifyDeps;
}

/**
 * The harness of the enclosing `describe`, its log's data directory named after `logName`;
 * `intercept` is the proxy's (./registry.ts startProxy).
 */
export function reverifyHarness(
  logName: string,
  options: { intercept?: ProxyIntercept } = {},
): ReverifyHarness {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signer = new LocalSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  let testRegistry: TestRegistry | undefined;
  let proxy: TestProxy | undefined;
  let log: TestLog | undefined;
  let started: { registry: RegistryClient; logClient: RekorV1Client } | undefined;

  before(async () => {
    testRegistry = await startRegistry();
    proxy = await startProxy(testRegistry.url, options.intercept);
    log = await startTestLog(logName, { unrelatedFirstEntry: true });
    started = {
      registry: new RegistryClient({ allowedHosts: [proxy.host] }),
      logClient: new RekorV1Client({ baseUrl: log.rekor.url, logKey: log.rekor.publicKeyPem }),
    };
  });
  after(async () => {
    await proxy?.stop();
    await testRegistry?.stop();
    await log?.stop();
  });

  const running = () => {
    if (testRegistry === undefined || proxy === undefined || log === undefined || started === undefined) {
      throw new Error('reverifyHarness: its servers and clients exist in hooks and tests only');
    }
    return { testRegistry, proxy, log, ...started };
  };
  const harness: ReverifyHarness = {
    get testRegistry() {
      return running().testRegistry;
    },
    get proxy() {
      return running().proxy;
    },
    get host() {
      return running().proxy.host;
    },
    get log() {
      return running().log;
    },
    get rekor() {
      return running().log.rekor;
    },
    get registry() {
      return running().registry;
    },
    get logClient() {
      return running().logClient;
    },
    signer,
    ref: (repository, tag) => `${harness.host}/${repository}:${tag}`,
    push: async (repository, tag, seed) => {
      const pushed = await harness.testRegistry.pushImage(repository, tag, seed);
      return { host: harness.host, repository, digest: pushed.digest };
    },
    deps: (parts, logFetch) => {
      const { registry, logClient, log } = running();
      const { rekor } = log;
      return {
        registry,
        unverified: new MemoryUnverifiedStore(),
        trust: { logs: [logKey(rekor.url, rekor.publicKeyPem)] },
        ownedPolicy: {
          keys: [{ ...expectedKeyFromPem(signer.publicKeyPem), keyVersion: OWNED_KEY_VERSION }],
          identities: [],
        },
        watchlist: [],
        keyState: async () => 'ENABLED',
        inclusion: new InclusionRechecker({
          client: logClient,
          baseUrl: rekor.url,
          ...(logFetch ? { fetch: logFetch } : {}),
        }),
        logger: createMemoryLogger(),
        concurrency: 4,
        ...parts,
      };
    },
  };
  return harness;
}

/** The status a pass gave the tag `ref`, if it judged it. */
export const statusOf = (summary: ReverifySummary, ref: string) =>
  summary.outcomes.find((o) => o.ref === ref)?.status;

/**
 * An image signed under `repository:prod`, judged valid by a first pass that watches only it (its
 * repository's first segment): `only` gives such a pass's dependencies (`deps`, with `over`
 * replacing any), `moveTo` points `prod` at an image again, `tag` is `prod`'s reference.
 */
export async function signedProd(harness: ReverifyHarness, deps: () => ReverifyDeps, repository: string) {
  const { registry, signer } = harness;
  const signed = await harness.push(repository, 'prod');
  await signImage({ registry, signer, rekorUrl: harness.rekor.url }, signed);
  const only = (over: Partial<ReverifyDeps> = {}): ReverifyDeps => ({
    ...deps(),
    watch: [`${harness.host}/${repository.split('/')[0]}/**`],
    ...over,
  });
  assert.equal(statusOf(await reverifyOnce(only()), harness.ref(repository, 'prod')), 'valid');
  const moveTo = async (image: DigestReference) => {
    const manifest = await registry.getManifest(image, image.digest);
    await registry.putManifest(image, 'prod', manifest.bytes, manifest.descriptor.mediaType);
  };
  return { signed, only, moveTo, tag: harness.ref(repository, 'prod') };
}

/** A sink over `alerts` whose raises wait for `gate` (a webhook timing out); `inSink` says one is waiting. */
export function heldSink(alerts: RecordingAlertSink) {
  const inSink = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  const sink: RecordingAlertSink = Object.create(alerts);
  sink.raise = async (alert) => {
    inSink.resolve();
    await gate.promise;
    return alerts.raise(alert);
  };
  return { sink, inSink, gate };
}
