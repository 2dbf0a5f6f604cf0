/**
 * `sigsentry monitor --once` run as the CLI with a REKOR_URL it must refuse before anything runs.
 * The runs that reach Firestore (a deployment without a log records its run) are in
 * test/integration/cli/commands.test.ts, against the emulator.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../../functions/cli/sigsentry.ts', import.meta.url));

/**
 * The CLI with only these variables (and PATH): no stack.env, no configuration of the caller's.
 * Firestore points at a closed port and the run is cut off after 30 s, so a command that got as far
 * as Firestore fails the test rather than hanging it.
 */
function sigsentry(
  args: string[],
  rekorUrl: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = {
    PATH: process.env.PATH ?? '',
    SIGSENTRY_STACK_ENV: join(import.meta.dirname, 'no-such-stack.env'),
    GCP_PROJECT: 'p',
    REKOR_URL: rekorUrl,
    FIRESTORE_EMULATOR_HOST: '127.0.0.1:1',
  };
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: number }).code), stdout, stderr });
    });
  });
}

describe('sigsentry monitor --once with a REKOR_URL that is almost none', () => {
  it('REKOR_URL=None is refused naming REKOR_URL and saying to write none in lower case, not taken for a log', async () => {
    for (const value of ['None', ' none', 'NONE\n']) {
      const run = await sigsentry(['monitor', '--once'], value);
      assert.equal(run.code, 1, `${JSON.stringify(value)}: ${run.stderr}`);
      assert.match(
        run.stderr,
        /REKOR_URL is ".*": for a deployment without a transparency log write none, in lower case/,
      );
      assert.doesNotMatch(run.stderr, /trusted root/, 'not a key error about a log named None');
    }
  });
});
