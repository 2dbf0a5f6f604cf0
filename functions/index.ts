/**
 * Registers sigsentry's Cloud Run functions with the Functions Framework. Each entry point is a
 * few lines: clients are built from the environment once per instance, and the core gets them as
 * arguments, so tests and the CLI reuse it.
 */
import * as ff from '@google-cloud/functions-framework';
import { createLogger } from './logging/logger.ts';
import { createSignOnPushEntry } from './sign-on-push/entry.ts';

const logger = createLogger({ function: process.env.FUNCTION_TARGET ?? process.env.K_SERVICE });

ff.cloudEvent(
  'signOnPush',
  createSignOnPushEntry({
    logger,
    // The signing core arrives with the signOnPush issue; until then the entry validates and logs.
    core: { handle: async () => {} },
  }),
);
