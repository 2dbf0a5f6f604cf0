/**
 * Test helper: KMS key versions backed by local P-256 keys, a KMS that refuses them by state, signed
 * images in a local registry, and one reverifyOnce pass over the policies reverifyImages builds.
 */
import { generateKeyPairSync } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import type { AlertSink } from '../../../functions/alerts/alert.ts';
import type { Logger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { loadReverifyConfig } from '../../../functions/reverify/config.ts';
import { type ReverifySummary, reverifyOnce } from '../../../functions/reverify/core.ts';
import type { OwnedPolicies } from '../../../functions/reverify/owned-policies.ts';
import type { TagStore } from '../../../functions/reverify/store.ts';
import { kmsError } from '../../../functions/signing/kms-signer.ts';
import { LocalSigner } from '../../../functions/signing/local-signer.ts';
import { expectedKeyFromPem } from '../../../functions/verify/policy.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { type SignOptions, signImage } from '../../helpers/sign-image.ts';

/** The name of version 1 of KMS key `name` (project p, global, key ring r). */
export const keyVersion = (name: string) =>
  `projects/p/locations/global/keyRings/r/cryptoKeys/${name}/cryptoKeyVersions/1`;

/** A client library error as @google-cloud/kms rejects with, turned into sigsentry's as kms-signer does. */
export const kmsFailure = (code: number, details: string, name: string) =>
  kmsError(Object.assign(new Error(`${code} ${details}`), { code, details }), name, 'GetPublicKey');

/** KMS's refusal (FAILED_PRECONDITION) of the public key of key version `name`, whose state is `state`. */
export const refusedAs = (state: string, name: string) =>
  kmsFailure(status.FAILED_PRECONDITION, `${name} is not enabled, current state is: ${state}.`, name);

/** A document whose rules give `HOST/a/**` and `HOST/b/**` these keys. */
export const twoRules = (host: string, a: string, b: string) =>
  loadReverifyConfig({
    SIGSENTRY_CONFIG: JSON.stringify({
      project: 'p',
      watch: [
        { repositories: `${host}/a/**`, key: a },
        { repositories: `${host}/b/**`, key: b },
      ],
      log: { kind: 'none' },
    }),
  });

/** A local P-256 signer under the KMS key version name of `name`, and its public key PEM. */
export function localKey(name: string) {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signer = new LocalSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  return { name: keyVersion(name), signer, pem: signer.publicKeyPem };
}

/**
 * KMS's GetPublicKey over `keys` (with the PEM and algorithm KMS gives): refused for the states
 * `states` names, or failing as `failure` says; `calls` lists the key versions asked for.
 */
export function fakeKms(
  keys: ReadonlyArray<{ name: string; pem: string }>,
  states: ReadonlyMap<string, string>,
  failure: ReadonlyMap<string, Error> = new Map(),
) {
  const calls: string[] = [];
  const kmsKey = async (name: string) => {
    calls.push(name);
    const failed = failure.get(name);
    if (failed !== undefined) throw failed;
    const state = states.get(name) ?? 'ENABLED';
    if (state !== 'ENABLED') throw refusedAs(state, name);
    const pem = keys.find((k) => k.name === name)!.pem;
    return { ...expectedKeyFromPem(pem, name), pem, algorithm: 'EC_SIGN_P256_SHA256' };
  };
  return { calls, kmsKey };
}

/** Pushes `repository:tag` (its content from `seed`) and signs it with `key` as signOnPush does, without a log. */
export async function pushSigned(
  registry: TestRegistry,
  client: RegistryClient,
  repository: string,
  tag: string,
  key: { signer: SignOptions['signer'] },
  seed?: string,
): Promise<void> {
  const pushed = await registry.pushImage(repository, tag, seed);
  await signImage(
    { registry: client, signer: key.signer, rekorUrl: undefined },
    { host: registry.host, repository, digest: pushed.digest },
  );
}

/** A local registry holding, per [repository, key], one image tagged v1 (seeded by its repository) signed with the key. */
export async function startSignedRegistry(
  images: ReadonlyArray<readonly [string, { signer: SignOptions['signer'] }]>,
): Promise<{ registry: TestRegistry; client: RegistryClient }> {
  const registry = await startRegistry();
  const client = new RegistryClient({ allowedHosts: [registry.host] });
  try {
    for (const [repository, key] of images)
      await pushSigned(registry, client, repository, 'v1', key, repository);
  } catch (err) {
    await registry.stop();
    throw err;
  }
  return { registry, client };
}

/** `ref`: a repository's v1 tag in the registry at `host()`; `statusOf`: its status in a pass summary. */
export function v1Refs(host: () => string) {
  const ref = (repository: string) => `${host()}/${repository}:v1`;
  const statusOf = (summary: ReverifySummary, repository: string) =>
    summary.outcomes.find((o) => o.ref === ref(repository))?.status;
  return { ref, statusOf };
}

/** What a pass works on besides its policies; a key version's state is ENABLED unless `states` names another. */
export interface PassDeps {
  client: RegistryClient;
  store: TagStore;
  alerts: AlertSink;
  logger: Logger;
  watch: readonly string[];
  states: ReadonlyMap<string, string>;
}

/** One reverifyOnce over a pass's policies and keys, as from-env.ts runs it, without a transparency log. */
export function reverifyPass(
  { ownedPolicy, keys }: Awaited<ReturnType<OwnedPolicies['forPass']>>,
  deps: PassDeps,
): Promise<ReverifySummary> {
  return reverifyOnce({
    registry: deps.client,
    store: deps.store,
    alerts: deps.alerts,
    trust: { logs: [] },
    ownedPolicy,
    ownedKeys: keys,
    watch: deps.watch,
    watchlist: [],
    keyState: async (name) => deps.states.get(name) ?? 'ENABLED',
    logger: deps.logger,
    concurrency: 2,
  });
}
