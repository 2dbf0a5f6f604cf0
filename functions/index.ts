/**
 * Registers sigsentry's Cloud Run functions with the Functions Framework. Each entry point is a
 * few lines: clients are built from the environment once per instance, and the core gets them as
 * arguments, so tests and the CLI reuse it.
 */
import * as ff from '@google-cloud/functions-framework';
import { DependencyError } from './errors.ts';
import type { GcrNotification } from './events/gcr-message.ts';
import { createLogger, type Logger } from './logging/logger.ts';
import { createSignOnPush } from './sign-on-push/core.ts';
import { createSignOnPushEntry } from './sign-on-push/entry.ts';
import { signOnPushDepsFromEnv } from './sign-on-push/from-env.ts';

const logger = createLogger({ function: process.env.FUNCTION_TARGET ?? process.env.K_SERVICE });

let signOnPush: ReturnType<typeof createSignOnPush> | undefined;
function signOnPushCore(): ReturnType<typeof createSignOnPush> {
  try {
    signOnPush ??= createSignOnPush(signOnPushDepsFromEnv(process.env));
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
