/**
 * Builds reverifyImages from its configuration, once per function instance: the registry client
 * (allowlisted to the watched and watchlisted hosts), Firestore, the KMS client and the expected keys'
 * public keys, each watch rule's policy (its own key and the keys of every repository), the log
 * client, and where the watchlist's public-good root comes from. Each pass gets fresh per-pass state
 * (key states, log re-checks, the public-good root refreshed through TUF: verify/public-good-root.ts)
 * so nothing stale crosses from one pass to the next, and asks KMS again for the public keys it
 * refused for their state (owned-policies.ts).
 */
import { Firestore } from '@google-cloud/firestore';
import type { AlertSink } from '../alerts/alert.ts';
import { firestoreSettings } from '../config/firestore.ts';
import { SigsentryError } from '../errors.ts';
import { describeError } from '../logging/describe.ts';
import type { Logger } from '../logging/logger.ts';
import { RegistryClient } from '../registry/client.ts';
import { googleRegistryAuthorization } from '../registry/google-auth.ts';
import { createKmsClient } from '../signing/kms-client.ts';
import { keyVersionState } from '../signing/kms-signer.ts';
import { RekorV1Client } from '../tlog/client/rekor-v1.ts';
import type { VerifierTrust } from '../verify/check.ts';
import { expectedKeyFromKms, type ImagePolicy } from '../verify/policy.ts';
import { type PublicGoodRootSource, publicGoodRootSource } from '../verify/public-good-root.ts';
import { logKey } from '../verify/trust.ts';
import { FirestoreTufVersionFloor, type TufVersionFloor } from '../verify/tuf-version-floor.ts';
import type { KeyStateLookup } from '../verify/verifier.ts';
import {
  loadReverifyConfig,
  type ReverifyConfig,
  type WatchlistEntry,
  watchlistIdentityPattern,
} from './config.ts';
import { type ReverifyDeps, type ReverifyOptions, type ReverifySummary, reverifyOnce } from './core.ts';
import { InclusionRechecker } from './inclusion.ts';
import { FirestoreKeptKeyStore, type KeptKeyStore } from './kept-keys.ts';
import { kmsKeyVersions, ownedPolicies } from './owned-policies.ts';
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
  /** Where the expected KMS keys' public keys are kept (owned-policies.ts); default Firestore. */
  keptKeys?: KeptKeyStore;
  /**
   * False: the pass does not follow up what it fails to verify (`verification-stale`): a manual pass
   * (the CLI) may run with another configuration, and must not resolve the scheduled passes' alert.
   */
  followUnverified?: boolean;
  firestore?: Firestore;
  /** Where each pass's public-good root comes from; default from the configuration's `tuf`. */
  publicGoodRoot?: PublicGoodRootSource;
  /** The TUF versions instances have trusted; default Firestore `tuf-versions`. */
  tufVersionFloor?: TufVersionFloor;
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
        subjectAlternativeName: entry.identityRegexp
          ? watchlistIdentityPattern(entry.identity)
          : entry.identity,
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

export async function createReverifyFromConfig(
  config: ReverifyConfig,
  clients: ReverifyClients,
  /** The environment the configuration was read from: FIRESTORE_DATABASE names the state's database. */
  env: NodeJS.ProcessEnv = process.env,
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
  let db = clients.firestore;
  const firestore = () => {
    db ??= new Firestore(firestoreSettings(env, config.project));
    return db;
  };
  const owned = await ownedPolicies(
    config,
    (keyVersion) => expectedKeyFromKms(kms!, keyVersion),
    // Only with KMS: a kept key is judged with the state KMS names (pinKeptKeyStates).
    kms === undefined
      ? {}
      : { keptKeys: clients.keptKeys ?? new FirestoreKeptKeyStore(firestore()), logger: clients.logger },
  );
  const logs = config.log.kind === 'rekor-v1' ? [logKey(config.log.url, config.log.publicKey)] : [];
  // Only with a watchlist: owned images are verified with keys, never with the public-good root.
  const publicGoodRoot =
    config.watchlist.length === 0
      ? undefined
      : (clients.publicGoodRoot ??
        publicGoodRootSource({
          tuf: config.tuf,
          logger: clients.logger,
          // Every instance's refreshes held to the newest versions any instance trusted.
          ...(config.tuf.mirror === 'none'
            ? {}
            : { floor: clients.tufVersionFloor ?? new FirestoreTufVersionFloor(firestore()) }),
        }));
  /** The pass's trust: the public-good root refreshed now, or why there is none to judge the watchlist with. */
  const passTrust = async (): Promise<{ trust: VerifierTrust; failure?: SigsentryError }> => {
    if (publicGoodRoot === undefined) return { trust: { logs } };
    try {
      return { trust: { logs, publicGoodRoot: await publicGoodRoot.forPass() } };
    } catch (err) {
      const failure =
        err instanceof SigsentryError
          ? err
          : new SigsentryError(
              'PUBLIC_GOOD_ROOT_UNAVAILABLE',
              `the public-good trusted root could not be had: ${describeError(err)}`,
              {
                retryable: true,
                cause: err,
              },
            );
      return { trust: { logs }, failure };
    }
  };
  const logClient =
    config.log.kind === 'rekor-v1'
      ? new RekorV1Client({ baseUrl: config.log.url, logKey: config.log.publicKey })
      : undefined;
  const store = clients.store ?? new FirestoreTagStore(firestore());
  const unverified =
    clients.followUnverified === false
      ? undefined
      : (clients.unverified ?? new FirestoreUnverifiedStore(firestore()));
  const watchlist = config.watchlist.map((entry) => ({ image: entry.image, policy: watchlistPolicy(entry) }));
  return {
    config,
    async run(options = {}) {
      const { ownedPolicy, keys } = await owned.forPass();
      const { trust, failure } = await passTrust();
      const deps: ReverifyDeps = {
        registry,
        store,
        ...(unverified ? { unverified } : {}),
        alerts: clients.alerts,
        trust,
        ownedPolicy,
        ownedKeys: keys,
        watch: config.watch.map((rule) => rule.repositories),
        watchlist,
        ...(failure ? { watchlistTrustFailure: failure } : {}),
        ...(kms ? { keyState: memoizedKeyState((name) => keyVersionState(kms, name)) } : {}),
        ...(logClient && config.log.kind === 'rekor-v1'
          ? {
              inclusion: new InclusionRechecker({
                client: logClient,
                baseUrl: config.log.url,
                ...(config.log.indexOffset !== undefined ? { indexOffset: config.log.indexOffset } : {}),
              }),
            }
          : {}),
        logger: clients.logger,
        concurrency: config.concurrency,
        staleAfterMs: config.staleAfterHours * 3_600_000,
      };
      return await reverifyOnce(deps, options);
    },
  };
}

export async function createReverifyFromEnv(
  env: NodeJS.ProcessEnv,
  clients: ReverifyClients,
): Promise<ReverifyRuntime> {
  return await createReverifyFromConfig(loadReverifyConfig(env), clients, env);
}
