import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../../functions/cli/sigsentry.ts', import.meta.url));

function sigsentry(args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, ...env } },
      (err, _stdout, stderr) => {
        resolve({ code: err === null ? 0 : Number((err as { code?: number }).code), stderr });
      },
    );
  });
}

describe('the CLI with a malformed FIRESTORE_DATABASE', () => {
  const env = {
    SIGSENTRY_STACK_ENV: join(tmpdir(), 'sigsentry-no-such-stack.env'),
    GCP_PROJECT: 'p',
    FIRESTORE_EMULATOR_HOST: '127.0.0.1:9',
    FIRESTORE_DATABASE: 'Sigsentry DB',
  };
  for (const args of [['status'], ['alerts'], ['alerts', 'resolve', 'k', '--reason', 'r']]) {
    it(`sigsentry ${args.join(' ')} says what is wrong and exits 2, without a stack trace`, async () => {
      const run = await sigsentry(args, env);
      assert.equal(run.code, 2, run.stderr);
      assert.match(
        run.stderr,
        /^sigsentry [a-z ]+: FIRESTORE_DATABASE is "Sigsentry DB", which is not a Firestore database id/,
      );
      assert.doesNotMatch(run.stderr, /\n\s+at /);
    });
  }
});
