/**
 * `sigsentry monitor --once` run as the CLI, on a deployment that needs no emulator: one without a
 * transparency log (REKOR_URL=none), whose run touches neither Firestore nor KMS.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NO_LOG_NOTE } from '../../../functions/monitor-log/core.ts';

const CLI = fileURLToPath(new URL('../../../functions/cli/sigsentry.ts', import.meta.url));

/** The CLI with only these variables (and PATH): no stack.env, no configuration of the caller's. */
function sigsentry(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = {
    PATH: process.env.PATH ?? '',
    SIGSENTRY_STACK_ENV: join(import.meta.dirname, 'no-such-stack.env'),
    GCP_PROJECT: 'p',
    REKOR_URL: 'none',
  };
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: number }).code), stdout, stderr });
    });
  });
}

describe('sigsentry monitor --once without a transparency log (REKOR_URL=none)', () => {
  it('says in text that no log is configured, and exits 0', async () => {
    const run = await sigsentry(['monitor', '--once']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `${NO_LOG_NOTE}\n`);
  });

  it('gives the same note with --json', async () => {
    const run = await sigsentry(['monitor', '--once', '--json']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { ok: true, logs: [], note: NO_LOG_NOTE });
  });
});
