/**
 * The local stack as the integration tests see it: `npm run test:integration` brings it up once
 * (emulators/stack/main.ts run) and points SIGSENTRY_STACK_ENV at its stack.env.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { Firestore } from '@google-cloud/firestore';
import { readStackEnv, type StackEnv } from '../../emulators/stack/stack-env.ts';

export interface TestStack {
  env: StackEnv;
  dir: string;
  functionLog(target: string): string;
}

let cached: TestStack | undefined;

export function testStack(): TestStack {
  if (cached) return cached;
  const file = process.env.SIGSENTRY_STACK_ENV ?? path.resolve('.sigsentry', 'stack.env');
  if (!fs.existsSync(file)) {
    throw new Error(`no stack at ${file}: run integration tests with 'npm run test:integration'`);
  }
  const env = readStackEnv(file);
  // The Google clients find the emulators through these variables.
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  for (const key of ['GCP_PROJECT', 'FIRESTORE_EMULATOR_HOST', 'PUBSUB_EMULATOR_HOST'] as const) {
    if (env[key]) process.env[key] = env[key];
  }
  const dir = path.dirname(file);
  cached = { env, dir, functionLog: (target) => path.join(dir, 'logs', `function-${target}.log`) };
  return cached;
}

/**
 * A Firestore client on the stack's emulator for the enclosing `describe` (undefined properties
 * dropped, as the functions' own clients do): made in its `before`, terminated in its `after`.
 * Read `.db` inside hooks and tests.
 */
export function stackFirestore(): { readonly db: Firestore } {
  let db: Firestore | undefined;
  before(() => {
    db = new Firestore({ projectId: testStack().env.GCP_PROJECT, ignoreUndefinedProperties: true });
  });
  after(async () => {
    await db?.terminate();
  });
  return {
    get db() {
      if (db === undefined) throw new Error('stackFirestore: its client exists in hooks and tests only');
      return db;
    },
  };
}

/** A repository name no other test uses: tests are isolated by data, not by restarting the stack. */
export function freshRepository(prefix = 'team'): string {
  return `${prefix}/app-${crypto.randomBytes(5).toString('hex')}`;
}

export type LogEntry = Record<string, unknown> & { severity?: string; message?: string };

/** The structured JSON lines of a log file (other lines, such as the framework's banner, skipped). */
export function readLogEntries(file: string): LogEntry[] {
  if (!fs.existsSync(file)) return [];
  const entries: LogEntry[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      entries.push(JSON.parse(line));
    } catch {
      // a line cut mid-write: the next read will see it whole
    }
  }
  return entries;
}

export async function waitForLogEntries(
  file: string,
  match: (e: LogEntry) => boolean,
  { count = 1, timeoutMs = 20_000 } = {},
): Promise<LogEntry[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = readLogEntries(file).filter(match);
    if (found.length >= count) return found;
    if (Date.now() > deadline) {
      throw new Error(
        `expected ${count} matching log entries in ${file} within ${timeoutMs} ms, found ${found.length}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `fn` with the stack's signOnPush held back: its push subscription becomes a pull one, so
 * pushes made meanwhile wait on Pub/Sub; they are delivered when the push endpoint is restored.
 */
export async function withSignOnPushHeldBack<T>(stack: TestStack, fn: () => Promise<T>): Promise<T> {
  const { PubSub } = await import('@google-cloud/pubsub');
  const pubsub = new PubSub({ projectId: stack.env.GCP_PROJECT });
  const subscription = pubsub.subscription('signOnPush-gcr');
  await subscription.modifyPushConfig({});
  try {
    return await fn();
  } finally {
    await subscription.modifyPushConfig({
      pushEndpoint: `${stack.env.FUNCTIONS_URL}/projects/${stack.env.GCP_PROJECT}/topics/gcr`,
    });
    await pubsub.close();
  }
}
