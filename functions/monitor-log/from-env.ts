/**
 * Builds monitorLog's dependencies from the environment, once per function instance: the log
 * clients (v1 REST or v2 tiles), Firestore state and signing records, the alert pipeline, and the
 * owned identities with KMS key versions resolved to their public keys (KMS_ENDPOINT points the
 * KMS client at the emulator locally). A deployment without a log gets no log and no identities.
 */
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import type { AlertSink } from '../alerts/alert.ts';
import { type AlertClients, alertSinkFromEnv } from '../alerts/from-env.ts';
import { firestoreSettings } from '../config/firestore.ts';
import type { Logger } from '../logging/logger.ts';
import { createKmsClient } from '../signing/kms-client.ts';
import { KmsSigner } from '../signing/kms-signer.ts';
import { HONEST_BUNDLE_BYTES } from '../tlog/client/limits.ts';
import { RekorV1Client } from '../tlog/client/rekor-v1.ts';
import { RekorV2Client } from '../tlog/client/rekor-v2.ts';
import { loadMonitorConfig, type MonitorConfig, type MonitoredLogSettings } from './config.ts';
import { DEFAULT_LIMITS, type MonitorDeps, type MonitoredLogConfig } from './core.ts';
import { FirestoreShardStore, PubSubShardDispatcher } from './fan-out.ts';
import { resolveIdentities } from './identities.ts';
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
  const client = new RekorV1Client({
    baseUrl: settings.url,
    logKey: settings.publicKey,
    concurrency,
    retries: 4,
  });
  return new RekorV1Source({
    client,
    url: settings.url,
    ...(settings.indexOffset !== undefined ? { indexOffset: settings.indexOffset } : {}),
  });
}

export interface MonitorClients extends AlertClients {
  logger: Logger;
  alerts?: AlertSink;
}

export async function monitorDepsFromEnv(
  env: NodeJS.ProcessEnv,
  clients: MonitorClients,
): Promise<MonitorDeps> {
  const config: MonitorConfig = loadMonitorConfig(env, clients.logger);
  const firestore = clients.firestore ?? new Firestore(firestoreSettings(env, config.project));
  // With no log (REKOR_URL=none) nothing is matched: the owned keys are not fetched from KMS.
  const owned = config.logs.length > 0 ? config.identities : [];
  const kms = owned.some((i) => i.type === 'kms')
    ? createKmsClient(env.KMS_ENDPOINT ? { endpoint: env.KMS_ENDPOINT } : {})
    : undefined;
  const identities = await resolveIdentities(owned, async (keyVersion) => {
    const key = await new KmsSigner({ client: kms!, keyVersion }).publicKey();
    return key.pem;
  });
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
  return {
    logs,
    store: new FirestoreMonitorStore(firestore),
    alerts: clients.alerts ?? alertSinkFromEnv(env, { ...clients, firestore }),
    records: new FirestoreSigningRecordLookup(firestore),
    identities,
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
}
