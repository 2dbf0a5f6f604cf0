/**
 * Registers sigsentry's Cloud Run functions with the Functions Framework. Each entry point is a
 * few lines: clients are built from the environment once per instance, and the core gets them as
 * arguments, so tests and the CLI reuse it.
 *
 * An instance serves one function (FUNCTION_TARGET), and holds only that function's modules: each
 * function's core, its clients and the client libraries they need are imported for it alone (at
 * the end of this file), not for every function. That is memory a 256 MiB instance needs
 * (monitorLog held 15-20 MiB more peak RSS with every function's modules loaded), and less heap
 * for V8 to mark.
 */

import * as ff from '@google-cloud/functions-framework';
import type { FanOutAlertSink } from './alerts/fanout.ts';
import { isLocalStack, requireIdentityToken } from './auth/identity-token.ts';
import { createDashboardEntry } from './dashboard/entry.ts';
import type { DashboardView } from './dashboard/view.ts';
import { DependencyError } from './errors.ts';
import type { GcrNotification } from './events/gcr-message.ts';
import { createLogger, type Logger } from './logging/logger.ts';
import type { MonitorRunResult } from './monitor-log/core.ts';
import { createMonitorLogEntry } from './monitor-log/entry.ts';
import type { MonitorRuntimeDeps } from './monitor-log/from-env.ts';
import { createMonitorShardEntry } from './monitor-log/shard-entry.ts';
import { createReverifyEntry } from './reverify/entry.ts';
import type { ReverifyRuntime } from './reverify/from-env.ts';
import type { createSignOnPush } from './sign-on-push/core.ts';
import { createSignOnPushEntry } from './sign-on-push/entry.ts';

const logger = createLogger({ function: process.env.FUNCTION_TARGET ?? process.env.K_SERVICE });

// Each function's modules. Imported once (the module system keeps them), by the function's first
// call, or at start-up for the function the instance serves (below).
const signOnPushModules = () =>
  Promise.all([import('./sign-on-push/core.ts'), import('./sign-on-push/from-env.ts')]);
const monitorModules = () =>
  Promise.all([
    import('./monitor-log/core.ts'),
    import('./monitor-log/from-env.ts'),
    import('./alerts/from-env.ts'),
  ]);
const reverifyModules = () => Promise.all([import('./reverify/from-env.ts'), import('./alerts/from-env.ts')]);
const dashboardModules = () =>
  Promise.all([
    import('@google-cloud/firestore'),
    import('./config/firestore.ts'),
    import('./dashboard/config.ts'),
    import('./dashboard/data.ts'),
  ]);

let signOnPush: Promise<ReturnType<typeof createSignOnPush>> | undefined;
function signOnPushCore(): Promise<ReturnType<typeof createSignOnPush>> {
  signOnPush ??= (async () => {
    const [{ createSignOnPush }, { signOnPushDepsFromEnv }] = await signOnPushModules();
    return createSignOnPush(signOnPushDepsFromEnv(process.env, logger));
  })().catch((err) => {
    // A broken configuration must not drop pushes: fail, so Pub/Sub keeps the message until
    // fixed; the next push builds it again.
    signOnPush = undefined;
    throw new DependencyError(
      'configuration',
      `signOnPush is misconfigured: ${(err as Error).message}`,
      {},
      err,
    );
  });
  return signOnPush;
}

ff.cloudEvent(
  'signOnPush',
  createSignOnPushEntry({
    logger,
    core: {
      handle: (n: GcrNotification, context: { messageId: string | undefined; logger: Logger }) =>
        signOnPushCore().then((core) => core.handle(n, context)),
    },
  }),
);

let monitorDeps: Promise<MonitorRuntimeDeps> | undefined;
function monitorCore(): Promise<MonitorRuntimeDeps> {
  // A failed build (KMS down, bad configuration) is retried by the next run, not cached.
  monitorDeps ??= monitorModules()
    .then(([, { monitorDepsFromEnv }]) => monitorDepsFromEnv(process.env, { logger }))
    .catch((err) => {
      monitorDeps = undefined;
      throw new DependencyError(
        'configuration',
        `monitorLog cannot start: ${(err as Error).message}`,
        {},
        err,
      );
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
  const [{ runMonitor }] = await monitorModules();
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
      redeliverOwedAlerts: async () => {
        const [, , { alertSinkFromEnv }] = await monitorModules();
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
      monitorCore().then(async (runtime) => {
        const { deps } = await runtime.forRun({ report: false });
        const [{ runMonitorShard }] = await monitorModules();
        return runMonitorShard(deps, message);
      }),
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
        reverify ??= (async () => {
          const [{ createReverifyFromEnv }, { alertSinkFromEnv }] = await reverifyModules();
          return createReverifyFromEnv(process.env, {
            alerts: alertSinkFromEnv(process.env, { logger }),
            logger,
          });
        })().catch((err) => {
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
let dashboard: Promise<(options: { repository?: string }) => Promise<DashboardView>> | undefined;
ff.http(
  'dashboard',
  createDashboardEntry({
    logger,
    local: isLocalStack(process.env),
    load: async (options) => {
      dashboard ??= (async () => {
        const [{ Firestore }, { firestoreSettings }, { dashboardConfigFromEnv }, { loadDashboard }] =
          await dashboardModules();
        const { project } = dashboardConfigFromEnv(process.env);
        const db = new Firestore(firestoreSettings(process.env, project));
        return (opts: { repository?: string }) => loadDashboard(db, { project, ...opts });
      })().catch((err) => {
        dashboard = undefined; // a bad configuration is read again on the next request
        throw err;
      });
      return (await dashboard)(options);
    },
  }),
);

// The served function's modules are loaded before the framework serves it, as static imports were:
// its first call does not wait for them, and one that fails to load fails the start. Without a
// FUNCTION_TARGET (a test, a bench), nothing is loaded until called. Exported for a test that
// checks every function of the deployment contract is here.
export const MODULES_OF: Readonly<Record<string, () => Promise<unknown>>> = {
  signOnPush: signOnPushModules,
  monitorLog: monitorModules,
  monitorShard: monitorModules,
  reverifyImages: reverifyModules,
  dashboard: dashboardModules,
};
await MODULES_OF[process.env.FUNCTION_TARGET ?? '']?.();
