/**
 * The environment a CLI command runs with: the process environment over the local stack's
 * `.sigsentry/stack.env` (or SIGSENTRY_STACK_ENV), when there is one. The Google clients find the
 * emulators through process.env, so the emulator variables are copied there too.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type FirestoreSettings, firestoreSettings } from '../../config/firestore.ts';
import { InvalidInputError } from '../../errors.ts';
import { printable } from '../terminal.ts';

const EMULATOR_VARIABLES = [
  'FIRESTORE_EMULATOR_HOST',
  'PUBSUB_EMULATOR_HOST',
  'KMS_ENDPOINT',
  'GCP_PROJECT',
] as const;

export function readStackEnvFile(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

export function commandEnv(processEnv: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const file = processEnv.SIGSENTRY_STACK_ENV ?? path.resolve('.sigsentry', 'stack.env');
  const stack = fs.existsSync(file) ? readStackEnvFile(file) : {};
  const env: NodeJS.ProcessEnv = { ...stack, ...processEnv };
  for (const key of EMULATOR_VARIABLES) {
    if (env[key] !== undefined && processEnv[key] === undefined) processEnv[key] = env[key];
  }
  if (Object.keys(stack).length > 0) processEnv.METADATA_SERVER_DETECTION ??= 'none';
  return env;
}

/** Writes a line to stderr: the human-readable reason that goes with an exit code. */
export function say(line: string): void {
  process.stderr.write(`${printable(line)}\n`);
}

/**
 * The Firestore client settings of `env` (FIRESTORE_DATABASE, GCP_PROJECT), or undefined once a
 * malformed FIRESTORE_DATABASE is said (a usage error: exit 2), never a stack trace.
 */
export function cliFirestoreSettings(command: string, env: NodeJS.ProcessEnv): FirestoreSettings | undefined {
  try {
    return firestoreSettings(env, env.GCP_PROJECT);
  } catch (err) {
    if (!(err instanceof InvalidInputError)) throw err;
    say(`sigsentry ${command}: ${err.message}`);
    return undefined;
  }
}
