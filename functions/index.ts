/**
 * Registers sigsentry's Cloud Run functions with the Functions Framework. Each entry point is a
 * few lines: clients are built from the environment once per instance, and the core gets them as
 * arguments, so tests and the CLI reuse it.
 */

import { Firestore } from '@google-cloud/firestore';
import * as ff from '@google-cloud/functions-framework';
import type { FanOutAlertSink } from './alerts/fanout.ts';
import { alertSinkFromEnv } from './alerts/from-env.ts';
import { isLocalStack, requireIdentityToken } from './auth/identity-token.ts';
import { firestoreSettings } from './config/firestore.ts';
import { dashboardConfigFromEnv } from './dashboard/config.ts';
import { loadDashboard } from './dashboard/data.ts';
import { createDashboardEntry } from './dashboard/entry.ts';
import { DependencyError } from './errors.ts';
import type { GcrNotification } from './events/gcr-message.ts';
import { createLogger, type Logger } from './logging/logger.ts';
import { type MonitorRunResult, runMonitor, runMonitorShard } from './monitor-log/core.ts';
import { createMonitorLogEntry } from './monitor-log/entry.ts';
import { type MonitorRuntimeDeps, monitorDepsFromEnv } from './monitor-log/from-env.ts';
import { createMonitorShardEntry } from './monitor-log/shard-entry.ts';
import { createReverifyEntry } from './reverify/entry.ts';
import { createReverifyFromEnv, type ReverifyRuntime } from './reverify/from-env.ts';
import { createSignOnPush } from './sign-on-push/core.ts';
import { createSignOnPushEntry } from './sign-on-push/entry.ts';
import { signOnPushDepsFromEnv } from './sign-on-push/from-env.ts';

const logger = createLogger({ function: process.env.FUNCTION_TARGET ?? process.env.K_SERVICE });

let signOnPush: ReturnType<typeof createSignOnPush> | undefined;
function signOnPushCore(): ReturnType<typeof createSignOnPush> {
  try {
    signOnPush ??= createSignOnPush(signOnPushDepsFromEnv(process.env, logger));
    return signOnPush;
  } catch (err) {
    // A broken configuration must not drop pushes: fail, so Pub/Sub keeps the message until fixed.
    throw new DependencyError(
      'configuration',
      `signOnPush is misconfigured: ${(err as Error).message}`,
      {},
      err,
    );
  }
}

ff.cloudEvent(
  'signOnPush',
  createSignOnPushEntry({
    logger,
    core: {
      handle: (n: GcrNotification, context: { messageId: string | undefined; logger: Logger }) =>
        signOnPushCore().handle(n, context),
    },
  }),
);

let monitorDeps: Promise<MonitorRuntimeDeps> | undefined;
function monitorCore(): Promise<MonitorRuntimeDeps> {
  // A failed build (KMS down, bad configuration) is retried by the next run, not cached.
  monitorDeps ??= monitorDepsFromEnv(process.env, { logger }).catch((err) => {
    monitorDeps = undefined;
    throw new DependencyError('configuration', `monitorLog cannot start: ${(err as Error).message}`, {}, err);
  });
  return monitorDeps;
}

/**
 * One monitorLog run: the owned KMS key versions KMS refused asked for again (their alert raised
 * again, or resolved), then the scan. An alert about them that could not be delivered does not stop
 * the scan; it fails the run (500, `ok: false`) once the logs are scanned, its ERROR line already written.
 */
async function monitorRun(
  runtime: MonitorRuntimeDeps,
  options: { from?: number },
): Promise<MonitorRunResult> {
  const { deps, errors } = await runtime.forRun();
  const result = await runMonitor({ ...deps, ...options });
  if (errors.length === 0) return result;
  logger.error('monitor run scanned, but alerts about owned KMS key versions could not be delivered', {
    errors,
  });
  return { ...result, ok: false };
}

let owedAlerts: FanOutAlertSink | undefined;
ff.http(
  'monitorLog',
  requireIdentityToken(
    isLocalStack(process.env),
    createMonitorLogEntry({
      logger,
      run: (options) => monitorCore().then((runtime) => monitorRun(runtime, options)),
      redeliverOwedAlerts: () => {
        owedAlerts ??= alertSinkFromEnv(process.env, { logger });
        return owedAlerts.redeliverOwed();
      },
    }),
  ),
);

// Fan-out shards of a large backlog, one Pub/Sub message each (MONITOR_SHARD_TOPIC).
ff.cloudEvent(
  'monitorShard',
  createMonitorShardEntry({
    logger,
    // KMS asked again for the owned key versions it refused, but no alert per delivery: monitorLog's runs raise it.
    run: (message) =>
      monitorCore().then(async (runtime) =>
        runMonitorShard((await runtime.forRun({ report: false })).deps, message),
      ),
  }),
);

let reverify: Promise<ReverifyRuntime> | undefined;
ff.http(
  'reverifyImages',
  requireIdentityToken(
    isLocalStack(process.env),
    createReverifyEntry({
      logger,
      run: (options) => {
        // A failed build (KMS down, bad configuration) is retried by the next run, not cached.
        reverify ??= (async () =>
          createReverifyFromEnv(process.env, {
            alerts: alertSinkFromEnv(process.env, { logger }),
            logger,
          }))().catch((err) => {
          reverify = undefined;
          throw new DependencyError(
            'configuration',
            `reverifyImages cannot start: ${(err as Error).message}`,
            {},
            err,
          );
        });
        return reverify.then((runtime) => runtime.run(options));
      },
    }),
  ),
);

// The status page: read-only; the Firestore client is built on first use.
let dashboardDb: { db: Firestore; project: string } | undefined;
ff.http(
  'dashboard',
  createDashboardEntry({
    logger,
    local: isLocalStack(process.env),
    load: (options) => {
      if (!dashboardDb) {
        const { project } = dashboardConfigFromEnv(process.env);
        dashboardDb = { db: new Firestore(firestoreSettings(process.env, project)), project };
      }
      return loadDashboard(dashboardDb.db, { project: dashboardDb.project, ...options });
    },
  }),
);
