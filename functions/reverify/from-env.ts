/**
 * Builds reverifyImages from its configuration, once per function instance: the registry client
 * (allowlisted to the watched and watchlisted hosts), Firestore, the KMS client and the expected keys'
 * public keys, each watch rule's policy (its own key and the keys of every repository), the log
 * client, and the embedded public-good root for the watchlist. Each pass gets fresh per-pass state
 * (key states, log re-checks) so nothing stale crosses from one pass to the next.
 */
import { Firestore } from '@google-cloud/firestore';
import type { AlertSink } from '../alerts/alert.ts';
import { firstMatchingRule } from '../config/shared-document.ts';
import { SigsentryError } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import { RegistryClient } from '../registry/client.ts';
import { googleRegistryAuthorization } from '../registry/google-auth.ts';
import { createKmsClient } from '../signing/kms-client.ts';
import { keyVersionState } from '../signing/kms-signer.ts';
import { RekorV1Client } from '../tlog/client/rekor-v1.ts';
import { embeddedPublicGoodTrustedRoot } from '../tlog/trust.ts';
import type { VerifierTrust } from '../verify/check.ts';
import {
  type ExpectedKey,
  expectedKeyFromKms,
  expectedKeyFromPem,
  type ImagePolicy,
} from '../verify/policy.ts';
import { logKey } from '../verify/trust.ts';
import type { KeyStateLookup } from '../verify/verifier.ts';
import { loadReverifyConfig, type ReverifyConfig, ruleExpectedKeys, type WatchlistEntry } from './config.ts';
import {
  type OwnedPolicyLookup,
  type ReverifyDeps,
  type ReverifyOptions,
  type ReverifySummary,
  reverifyOnce,
} from './core.ts';
import { InclusionRechecker } from './inclusion.ts';
import { FirestoreTagStore, type TagStore } from './store.ts';
import { FirestoreUnverifiedStore, type UnverifiedStore } from './unverified.ts';

export interface ReverifyRuntime {
  config: ReverifyConfig;
  run(options?: ReverifyOptions): Promise<ReverifySummary>;
}

export interface ReverifyClients {
  alerts: AlertSink;
  logger: Logger;
  store?: TagStore;
  unverified?: UnverifiedStore;
  /**
   * False: the pass does not follow up what it fails to verify (`verification-stale`): a manual pass
   * (the CLI) may run with another configuration, and must not resolve the scheduled passes' alert.
   */
  followUnverified?: boolean;
  firestore?: Firestore;
}

function hostOf(image: string): string {
  const slash = image.indexOf('/');
  return (slash > 0 ? image.slice(0, slash) : image).toLowerCase();
}

export function watchlistPolicy(entry: WatchlistEntry): ImagePolicy {
  return {
    keys: [],
    identities: [
      {
        subjectAlternativeName: entry.identityRegexp ? new RegExp(entry.identity) : entry.identity,
        issuer: entry.issuer,
      },
    ],
    references: entry.references,
  };
}

/** A key-state lookup that asks KMS once per key version per pass. */
export function memoizedKeyState(lookup: KeyStateLookup): KeyStateLookup {
  const states = new Map<string, Promise<string>>();
  return (keyVersion) => {
    let state = states.get(keyVersion);
    if (state === undefined) {
      state = lookup(keyVersion);
      states.set(keyVersion, state);
      state.catch(() => states.delete(keyVersion));
    }
    return state;
  };
}

/** Every KMS key version the configuration names, once: the rules' keys and those of every repository. */
function kmsKeyVersions(config: ReverifyConfig): string[] {
  const ruleKeys = config.watch.flatMap((rule) => (rule.key === undefined ? [] : [rule.key]));
  return [...new Set([...config.keys, ...ruleKeys])];
}

/** Each key once (by key version, or PEM hint): a rule's key may be listed for every repository too. */
function distinctKeys(keys: ExpectedKey[]): ExpectedKey[] {
  return [...new Map(keys.map((key) => [key.id, key])).values()];
}

/**
 * The policy of each watched repository: that of the first watch rule matching it, as signOnPush
 * picks the key it signs the repository with, so one rule's key never passes another rule's images.
 * A policy per rule, each KMS key fetched once (`kmsKey`).
 */
export async function ownedPolicies(
  config: ReverifyConfig,
  kmsKey: (keyVersion: string) => Promise<ExpectedKey>,
): Promise<OwnedPolicyLookup> {
  const fromKms = new Map(
    await Promise.all(kmsKeyVersions(config).map(async (name) => [name, await kmsKey(name)] as const)),
  );
  const fromPem = new Map(config.publicKeys.map((pem) => [pem, expectedKeyFromPem(pem)]));
  // A deployment that signs without a log (REKOR_URL=none) has no entry to ask its own images for;
  // watchlist policies keep theirs.
  const tlog = config.log.kind === 'none' ? { requireTlog: false } : {};
  const rules = config.watch.map((rule) => {
    const expected = ruleExpectedKeys(config, rule);
    const keys = distinctKeys([
      ...expected.keys.map((name) => fromKms.get(name)!),
      ...expected.publicKeys.map((pem) => fromPem.get(pem)!),
    ]);
    return { repositories: rule.repositories, policy: { keys, identities: [], ...tlog } };
  });
  return (repository) => {
    const rule = firstMatchingRule(rules, repository);
    if (rule === undefined) {
      // The inventory lists only repositories a watch glob matches: a bug, not a configuration.
      throw new SigsentryError('NOT_WATCHED', `no watch rule matches ${repository}`, {
        details: { repository },
      });
    }
    return rule.policy;
  };
}

export async function createReverifyFromConfig(
  config: ReverifyConfig,
  clients: ReverifyClients,
): Promise<ReverifyRuntime> {
  const hosts = [
    ...new Set([
      ...config.watch.map((rule) => hostOf(rule.repositories)),
      ...config.watchlist.map((w) => hostOf(w.image)),
    ]),
  ];
  const registry = new RegistryClient({
    allowedHosts: hosts,
    redirectHosts: config.redirectHosts,
    authorization: googleRegistryAuthorization(),
  });
  const kms = kmsKeyVersions(config).length > 0 ? createKmsClient() : undefined;
  const ownedPolicy = await ownedPolicies(config, (name) => expectedKeyFromKms(kms!, name));
  const trust: VerifierTrust = {
    logs: config.log.kind === 'rekor-v1' ? [logKey(config.log.url, config.log.publicKey)] : [],
    ...(config.watchlist.length > 0 ? { publicGoodRoot: embeddedPublicGoodTrustedRoot() } : {}),
  };
  const logClient =
    config.log.kind === 'rekor-v1'
      ? new RekorV1Client({ baseUrl: config.log.url, logKey: config.log.publicKey })
      : undefined;
  let db = clients.firestore;
  const firestore = () => {
    db ??= new Firestore({ projectId: config.project, ignoreUndefinedProperties: true });
    return db;
  };
  const store = clients.store ?? new FirestoreTagStore(firestore());
  const unverified =
    clients.followUnverified === false
      ? undefined
      : (clients.unverified ?? new FirestoreUnverifiedStore(firestore()));
  const watchlist = config.watchlist.map((entry) => ({ image: entry.image, policy: watchlistPolicy(entry) }));
  return {
    config,
    run(options = {}) {
      const deps: ReverifyDeps = {
        registry,
        store,
        ...(unverified ? { unverified } : {}),
        alerts: clients.alerts,
        trust,
        ownedPolicy,
        watch: config.watch.map((rule) => rule.repositories),
        watchlist,
        ...(kms ? { keyState: memoizedKeyState((name) => keyVersionState(kms, name)) } : {}),
        ...(logClient && config.log.kind === 'rekor-v1'
          ? { inclusion: new InclusionRechecker({ client: logClient, baseUrl: config.log.url }) }
          : {}),
        logger: clients.logger,
        concurrency: config.concurrency,
        staleAfterMs: config.staleAfterHours * 3_600_000,
      };
      return reverifyOnce(deps, options);
    },
  };
}

export async function createReverifyFromEnv(
  env: NodeJS.ProcessEnv,
  clients: ReverifyClients,
): Promise<ReverifyRuntime> {
  return await createReverifyFromConfig(loadReverifyConfig(env), clients);
}
