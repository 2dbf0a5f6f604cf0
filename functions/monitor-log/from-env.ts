/**
 * Builds monitorLog's dependencies from the environment, once per function instance: the log
 * clients (v1 REST or v2 tiles), Firestore state and signing records, the alert pipeline, and the
 * owned identities with KMS key versions resolved to their public keys (KMS_ENDPOINT points the
 * KMS client at the emulator locally). A deployment without a log gets no log and no identities.
 *
 * A KMS key version whose public key KMS refuses for its state (DISABLED, DESTROY_SCHEDULED, …: what
 * a security team does to a key suspected compromised, and step 4 of a rotation) does not stop the
 * monitor: it is watched with the public key reverifyImages kept when KMS last gave it
 * (`reverify-keys`, reverify/kept-keys.ts; a WARNING line), and with none kept (or the store
 * unreadable) the other identities are watched, with an ERROR line and a HIGH `key-disabled` alert
 * (key `key-disabled:monitorLog:KEY_VERSION`) naming the key version that cannot be. A version KMS is
 * still generating or importing is left out with a NOTICE line (nothing can be signed with it yet).
 * Each run asks KMS again for those (`forRun`), raising the alert again while it stands and resolving
 * it once the key is watched. Any other failure (permission denied, no such key, KMS unreachable)
 * still fails the start: a configuration or outage error is not narrowed into fewer identities.
 */
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import type { AlertInput, AlertSink } from '../alerts/alert.ts';
import { type AlertClients, alertSinkFromEnv } from '../alerts/from-env.ts';
import { firestoreSettings } from '../config/firestore.ts';
import { errorMessage } from '../logging/describe.ts';
import type { Logger } from '../logging/logger.ts';
import {
  FirestoreKeptKeyStore,
  KEPT_KEYS_COLLECTION,
  type KeptKeyStore,
  keepKmsPublicKey,
} from '../reverify/kept-keys.ts';
import { createKmsClient } from '../signing/kms-client.ts';
import { KmsSigner } from '../signing/kms-signer.ts';
import { HONEST_BUNDLE_BYTES } from '../tlog/client/limits.ts';
import { RekorV1Client } from '../tlog/client/rekor-v1.ts';
import { RekorV2Client } from '../tlog/client/rekor-v2.ts';
import { loadMonitorConfig, type MonitorConfig, type MonitoredLogSettings } from './config.ts';
import { DEFAULT_LIMITS, type MonitorDeps, type MonitoredLogConfig } from './core.ts';
import { FirestoreShardStore, PubSubShardDispatcher } from './fan-out.ts';
import {
  type OwnedIdentity,
  type OwnedKeySources,
  type OwnedResolution,
  resolveOwnedIdentities,
  type UnwatchedKey,
} from './identities.ts';
import type { MonitoredLog } from './log-source.ts';
import { RekorV1Source } from './rekor-v1-source.ts';
import { FirestoreSigningRecordLookup } from './signing-lookup.ts';
import { FirestoreMonitorStore } from './state.ts';
import { TiledLogSource } from './tiled-source.ts';

/**
 * The monitored log for its settings, `concurrency` requests in flight. A tile log's batches are
 * sized so that the batches read at once (`readAhead`) together fetch about that many bundles:
 * each bundle is a quarter to a MiB held until its batch is matched, and a batch of honest bundles
 * must fit the half of the read budget one batch may hold (read-budget.ts).
 */
export function logSourceFor(
  settings: MonitoredLogSettings,
  concurrency: number,
  readAhead = DEFAULT_LIMITS.readAhead,
  readBudgetBytes = DEFAULT_LIMITS.readBudgetBytes,
): MonitoredLog {
  if (settings.kind === 'rekor-v2') {
    const reader = new RekorV2Client({
      baseUrl: settings.url,
      logKey: settings.publicKey,
      concurrency,
      ...(settings.origin ? { origin: settings.origin } : {}),
    });
    const fitting = Math.floor(readBudgetBytes / 2 / HONEST_BUNDLE_BYTES);
    return new TiledLogSource({
      reader,
      url: settings.url,
      bundlesPerBatch: Math.min(Math.ceil(concurrency / Math.max(1, readAhead)), fitting),
    });
  }
  return new RekorV1Source({
    client: rekorV1ClientFor(settings, concurrency),
    url: settings.url,
    ...(settings.indexOffset !== undefined ? { indexOffset: settings.indexOffset } : {}),
  });
}

/** The Rekor v1 client a monitored v1 log reads through, `concurrency` requests in flight. */
export function rekorV1ClientFor(
  settings: Pick<MonitoredLogSettings, 'url' | 'publicKey'>,
  concurrency: number,
): RekorV1Client {
  return new RekorV1Client({ baseUrl: settings.url, logKey: settings.publicKey, concurrency, retries: 4 });
}

export interface MonitorClients extends AlertClients {
  logger: Logger;
  alerts?: AlertSink;
  /** The public keys kept of the KMS key versions (reverify-keys); default Firestore's. */
  keptKeys?: KeptKeyStore;
}

/** The alert key of an owned key version monitorLog cannot watch: its own, apart from reverifyImages'. */
export function unwatchedKeyAlertKey(keyVersion: string): string {
  return `key-disabled:monitorLog:${keyVersion}`;
}

export function unwatchedKeyAlert(key: UnwatchedKey): AlertInput {
  const unread =
    key.keptKeyError === undefined ? '' : ` (the kept keys could not be read: ${key.keptKeyError})`;
  return {
    kind: 'key-disabled',
    severity: 'HIGH',
    subject: key.keyVersion,
    key: unwatchedKeyAlertKey(key.keyVersion),
    summary:
      `KMS key version ${key.keyVersion} is ${key.state}: KMS refuses its public key and none is kept${unread}, ` +
      'so monitorLog cannot watch the transparency log for entries signed with it (the other owned identities ' +
      'are watched). Enable it again, or list its public key as a publicKey identity; taken out of the ' +
      'configuration instead, resolve this alert by hand (`sigsentry alerts resolve`)',
    evidence: {
      keyVersion: key.keyVersion,
      state: key.state,
      identity: key.description,
      verifierOutput: key.error,
      ...(key.keptKeyError === undefined ? {} : { keptKeyError: key.keptKeyError }),
    },
  };
}

/** monitorLog's dependencies, and how to refresh the owned KMS key versions KMS refused. */
export interface MonitorRuntimeDeps extends MonitorDeps {
  /**
   * The dependencies for a run: KMS asked again for the key versions it did not give (none asked
   * when it gave them all), the `key-disabled:monitorLog:…` alerts raised again or resolved
   * (`report: false`, as monitorShard's many deliveries: lines only). `errors`: alerts that could not
   * be raised or resolved, and a failed re-check (the last identities are kept then): the run is to
   * report them while it scans.
   */
  forRun(options?: {
    report?: boolean;
  }): Promise<{ deps: MonitorDeps; errors: Array<{ ref: string; error: string }> }>;
}

/**
 * Lines and alerts for how the owned KMS key versions were resolved (`alert: false`: lines only);
 * returns what could not be delivered. The alert of each key version watched is resolved (an earlier
 * run or instance may have raised it; resolving one that is not open tells nobody).
 */
async function reportOwnedKeys(
  owned: readonly OwnedIdentity[],
  resolution: OwnedResolution,
  deps: { alerts: AlertSink; logger: Logger },
  options: { alert: boolean },
): Promise<Array<{ ref: string; error: string }>> {
  const errors: Array<{ ref: string; error: string }> = [];
  const deliver = async (key: string, send: () => Promise<void>) => {
    if (!options.alert) return;
    try {
      await send();
    } catch (err) {
      errors.push({ ref: key, error: errorMessage(err) });
      deps.logger.error(`could not deliver the alert ${key}; the next run tries again`, { error: err });
    }
  };
  for (const key of resolution.unwatched) {
    deps.logger.error(
      `KMS key version ${key.keyVersion} is ${key.state}: its public key cannot be read and none is kept, so the log is not watched for it`,
      {
        keyVersion: key.keyVersion,
        state: key.state,
        error: key.error,
        ...(key.keptKeyError === undefined ? {} : { keptKeyError: key.keptKeyError }),
      },
    );
    await deliver(unwatchedKeyAlertKey(key.keyVersion), () => deps.alerts.raise(unwatchedKeyAlert(key)));
  }
  for (const key of resolution.kept) {
    deps.logger.warn(
      `KMS key version ${key.keyVersion} is ${key.state}: KMS refuses its public key, so the log is watched for the one kept when KMS gave it (${key.readAt})`,
      { keyVersion: key.keyVersion, state: key.state, keptKeyReadAt: key.readAt },
    );
  }
  for (const key of resolution.pending) {
    deps.logger.notice(
      `KMS key version ${key.keyVersion} is ${key.state}: not ready yet (nothing can be signed with it), so it is watched once KMS gives it`,
      { keyVersion: key.keyVersion, state: key.state },
    );
  }
  const unwatched = new Set(resolution.unwatched.map((k) => k.keyVersion));
  const pending = new Set(resolution.pending.map((k) => k.keyVersion));
  for (const id of owned) {
    if (id.type !== 'kms' || unwatched.has(id.keyVersion) || pending.has(id.keyVersion)) continue;
    const key = unwatchedKeyAlertKey(id.keyVersion);
    await deliver(key, () => deps.alerts.resolve(key, `KMS key version ${id.keyVersion} is watched`));
  }
  return errors;
}

export async function monitorDepsFromEnv(
  env: NodeJS.ProcessEnv,
  clients: MonitorClients,
): Promise<MonitorRuntimeDeps> {
  const config: MonitorConfig = loadMonitorConfig(env, clients.logger);
  const firestore = clients.firestore ?? new Firestore(firestoreSettings(env, config.project));
  // With no log (REKOR_URL=none) nothing is matched: the owned keys are not fetched from KMS.
  const owned = config.logs.length > 0 ? config.identities : [];
  const kms = owned.some((i) => i.type === 'kms')
    ? createKmsClient(env.KMS_ENDPOINT ? { endpoint: env.KMS_ENDPOINT } : {})
    : undefined;
  let keptKeys = clients.keptKeys;
  const keptStore = () => (keptKeys ??= new FirestoreKeptKeyStore(firestore));
  /** Key versions whose public key this instance has kept (or found kept) as KMS gave it. */
  const keptHere = new Set<string>();
  const sources: OwnedKeySources = {
    kmsPublicKeyPem: async (keyVersion) => {
      const key = await new KmsSigner({ client: kms!, keyVersion }).publicKey();
      // Kept as reverifyImages keeps it, so that an instance started once KMS refuses the key for
      // its state still watches it. A failure costs nothing now: the key is watched, and kept later.
      if (!keptHere.has(key.name)) {
        try {
          await keepKmsPublicKey(
            keptStore(),
            { keyVersion: key.name, pem: key.pem, algorithm: key.algorithm.name },
            new Date(),
          );
          keptHere.add(key.name);
        } catch (err) {
          clients.logger.error(
            `could not keep the public key of KMS key version ${key.name}; it is watched all the same, and kept on a later try`,
            { keyVersion: key.name, collection: KEPT_KEYS_COLLECTION, operation: 'keep', error: err },
          );
        }
      }
      return key.pem;
    },
    keptPublicKey: async (keyVersion) => {
      const kept = await keptStore().get(keyVersion);
      return kept === undefined ? undefined : { pem: kept.pem, readAt: kept.readAt };
    },
  };
  let resolution = await resolveOwnedIdentities(owned, sources);
  const alerts = clients.alerts ?? alertSinkFromEnv(env, { ...clients, firestore });
  // Raised now, so a start that leads to no run still tells; a failure is the first run's error.
  let owedErrors = await reportOwnedKeys(
    owned,
    resolution,
    { alerts, logger: clients.logger },
    {
      alert: true,
    },
  );
  const concurrency = config.limits.requestConcurrency ?? 32;
  const logs: MonitoredLogConfig[] = config.logs.map((settings) => ({
    name: settings.name,
    log: logSourceFor(settings, concurrency, config.limits.readAhead, config.limits.readBudgetBytes),
    ...(settings.startIndex !== undefined ? { startIndex: settings.startIndex } : {}),
    ...(settings.stalledAfterHours !== undefined
      ? {
          stalledAfterMs:
            settings.stalledAfterHours === false ? false : settings.stalledAfterHours * 3_600_000,
        }
      : {}),
  }));
  const { requestConcurrency: _, ...limits } = config.limits;
  const notAllGiven = () =>
    resolution.unwatched.length + resolution.kept.length + resolution.pending.length > 0;
  const runtime: MonitorRuntimeDeps = {
    logs,
    store: new FirestoreMonitorStore(firestore),
    alerts,
    records: new FirestoreSigningRecordLookup(firestore),
    identities: resolution.identities,
    async forRun(options = {}) {
      const report = options.report ?? true;
      const errors = report ? owedErrors : [];
      if (report) owedErrors = [];
      if (!notAllGiven()) return { deps: runtime, errors };
      try {
        // KMS's answers for the key versions it gave are cached (kms-signer.ts): only the others are asked.
        resolution = await resolveOwnedIdentities(owned, sources);
      } catch (err) {
        clients.logger.error(
          'could not ask KMS again for the owned key versions it refused; the last identities are watched',
          {
            error: err,
          },
        );
        return { deps: runtime, errors: [...errors, { ref: 'owned-keys', error: errorMessage(err) }] };
      }
      const now = await reportOwnedKeys(
        owned,
        resolution,
        { alerts, logger: clients.logger },
        { alert: report },
      );
      runtime.identities = resolution.identities;
      // Every alert of the start-up was tried again now (raised or resolved): its failures give way.
      return { deps: runtime, errors: report ? now : errors };
    },
    logger: clients.logger,
    limits,
    ...(config.shardTopic
      ? {
          fanOut: {
            store: new FirestoreShardStore(firestore),
            dispatcher: new PubSubShardDispatcher(
              (clients.pubsub ?? new PubSub({ projectId: config.project })).topic(config.shardTopic),
            ),
          },
        }
      : {}),
  };
  return runtime;
}
