/**
 * FIRESTORE_DATABASE is read in one place (functions/config/firestore.ts) and every Firestore client
 * in functions/ is built from it: unset, empty or `(default)` is the project's `(default)` database
 * (the settings every client had before), a Firestore database id is that database, and anything
 * else is refused naming the variable. Before, every function used `(default)` whatever was set, so
 * two installations in one project shared signing records, monitor cursors and alerts.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { alertSinkFromEnv } from '../../../functions/alerts/from-env.ts';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { firestoreDatabaseFromEnv, firestoreSettings } from '../../../functions/config/firestore.ts';
import { InvalidInputError } from '../../../functions/errors.ts';
import { createLogger } from '../../../functions/logging/logger.ts';
import { monitorDepsFromEnv } from '../../../functions/monitor-log/from-env.ts';
import { createReverifyFromEnv } from '../../../functions/reverify/from-env.ts';
import { signOnPushDepsFromEnv } from '../../../functions/sign-on-push/from-env.ts';

const FUNCTIONS_DIR = path.resolve(import.meta.dirname, '../../../functions');

// signOnPush builds its KMS client before its Firestore client: no metadata-server lookup from a test.
process.env.METADATA_SERVER_DETECTION ??= 'none';

function refusal(value: string): InvalidInputError {
  try {
    firestoreSettings({ FIRESTORE_DATABASE: value }, 'p');
  } catch (err) {
    assert.ok(err instanceof InvalidInputError, `${JSON.stringify(value)}: ${String(err)}`);
    return err;
  }
  assert.fail(`FIRESTORE_DATABASE=${JSON.stringify(value)} was accepted`);
}

describe('FIRESTORE_DATABASE', () => {
  it('unset, empty or (default): the (default) database, with the settings every client had before', () => {
    for (const env of [{}, { FIRESTORE_DATABASE: '' }, { FIRESTORE_DATABASE: '(default)' }]) {
      assert.deepEqual(firestoreSettings(env, 'p'), { projectId: 'p', ignoreUndefinedProperties: true });
      assert.equal(firestoreDatabaseFromEnv(env), '(default)');
    }
  });

  it('a Firestore database id: that database', () => {
    for (const id of ['sigsentry-b', 'abcd', 'a1-2', 'db-0', 'staging2', `a${'-b'.repeat(31)}`]) {
      assert.equal(id.length <= 63, true, id);
      assert.deepEqual(
        firestoreSettings({ FIRESTORE_DATABASE: id }, 'p'),
        { projectId: 'p', databaseId: id, ignoreUndefinedProperties: true },
        id,
      );
    }
  });

  it('without a project the client finds its own (the CLI without GCP_PROJECT): no projectId', () => {
    assert.deepEqual(firestoreSettings({ FIRESTORE_DATABASE: 'sigsentry-b' }, undefined), {
      databaseId: 'sigsentry-b',
      ignoreUndefinedProperties: true,
    });
  });

  it('refuses upper case, too short or long, a hyphen last, white space and other characters, naming the variable', () => {
    for (const value of [
      'Sigsentry',
      'SIGSENTRY-B',
      '(DEFAULT)',
      'abc',
      'a',
      `a${'b'.repeat(63)}`,
      'sigsentry-',
      ' sigsentry-b',
      'sigsentry-b ',
      'sigsentry b',
      'sigsentry-b\n',
      ' ',
      '1sigsentry',
      '-sigsentry',
      'sig_sentry',
      'sig.sentry',
      'projects/p/databases/sigsentry-b',
      'abcdef12-3456-7890-abcd-ef1234567890',
    ]) {
      const err = refusal(value);
      assert.match(
        err.message,
        /^FIRESTORE_DATABASE is ".*", which is not a Firestore database id: give 4 to 63 lower-case letters/,
        JSON.stringify(value),
      );
      assert.equal(err.details['variable'], 'FIRESTORE_DATABASE');
    }
  });

  it('every `new Firestore(...)` in functions/ is built from it', () => {
    const sites: string[] = [];
    for (const file of fs.readdirSync(FUNCTIONS_DIR, { recursive: true, encoding: 'utf8' })) {
      // The module's own doc comment names the constructor; it builds none.
      if (!file.endsWith('.ts') || file === path.join('config', 'firestore.ts')) continue;
      const text = fs.readFileSync(path.join(FUNCTIONS_DIR, file), 'utf8');
      // The CLI's commands build theirs from cliFirestoreSettings (firestoreSettings, a usage error
      // for a malformed id), as `settings`.
      const fromCli = text.includes('= cliFirestoreSettings(');
      for (const m of text.matchAll(/new Firestore\(([^)\n]{0,80})/g))
        sites.push(`${file}: new Firestore(${m[1]}${fromCli ? ' [cliFirestoreSettings]' : ''}`);
    }
    assert.ok(sites.length >= 8, sites.join('\n'));
    for (const site of sites)
      assert.match(
        site,
        /new Firestore\((firestoreSettings\((env|process\.env), |settings \[cliFirestoreSettings\]$)/,
        site,
      );
  });

  it('a malformed id stops the functions that build a client at start-up, naming the variable', async () => {
    const env = {
      GCP_PROJECT: 'p',
      SIGSENTRY_WATCH: 'europe-docker.pkg.dev/p/releases/**',
      KMS_KEY: 'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1',
      REKOR_URL: 'none',
      FIRESTORE_DATABASE: 'Sigsentry-B',
    };
    const named = (err: unknown) =>
      err instanceof InvalidInputError && /^FIRESTORE_DATABASE is "Sigsentry-B"/.test(err.message);
    assert.throws(() => alertSinkFromEnv(env), named, 'the alert pipeline');
    assert.throws(() => signOnPushDepsFromEnv(env), named, 'signOnPush');
    await assert.rejects(
      monitorDepsFromEnv(env, { logger: createLogger({ component: 'test' }) }),
      named,
      'monitorLog',
    );
  });

  it('reverifyImages reads it from the environment it is given, not the process environment (the CLI gives stack.env over it)', async () => {
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    const env = {
      GCP_PROJECT: 'p',
      SIGSENTRY_WATCH: 'localhost:5000/app/**',
      SIGSENTRY_PUBLIC_KEYS: pem,
      REKOR_URL: 'none',
    };
    const clients = { logger: createLogger({ component: 'test' }), alerts: new MemoryAlertSink() };
    await assert.rejects(
      createReverifyFromEnv({ ...env, FIRESTORE_DATABASE: 'Sigsentry-B' }, clients),
      (err: unknown) =>
        err instanceof InvalidInputError && /^FIRESTORE_DATABASE is "Sigsentry-B"/.test(err.message),
    );
    const saved = process.env.FIRESTORE_DATABASE;
    process.env.FIRESTORE_DATABASE = 'Not A Database';
    try {
      await createReverifyFromEnv({ ...env, FIRESTORE_DATABASE: 'sigsentry-b' }, clients);
    } finally {
      if (saved === undefined) delete process.env.FIRESTORE_DATABASE;
      else process.env.FIRESTORE_DATABASE = saved;
    }
  });
});
