/**
 * The key version names signOnPush's configuration loads are exactly those the KMS signer takes:
 * `cryptoKeyVersions/0` or `/01` is refused at load, never after a push was claimed (which left a
 * live lease and answered redeliveries SIGNING_IN_PROGRESS until it ran out).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadSignOnPushConfig } from '../../../functions/config/sign-config.ts';
import { InvalidInputError } from '../../../functions/errors.ts';
import { signOnPushDepsFromEnv } from '../../../functions/sign-on-push/from-env.ts';
import { KmsSigner } from '../../../functions/signing/kms-signer.ts';

const VERSIONS = 'projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions';
const REFUSED = ['0', '00', '01', '007', '-1', '1.0', ' 1', ''].map((n) => `${VERSIONS}/${n}`);
const ACCEPTED = ['1', '9', '10', '100', '4294967296'].map((n) => `${VERSIONS}/${n}`);

const env = (key: string) => ({
  GCP_PROJECT: 'p',
  SIGSENTRY_WATCH: 'registry.example/team/**',
  KMS_KEY: key,
  REKOR_URL: 'none',
});

function kmsSignerTakes(keyVersion: string): boolean {
  try {
    new KmsSigner({ client: {} as never, keyVersion });
    return true;
  } catch {
    return false;
  }
}

describe('signOnPush configuration: KMS key version names', () => {
  it('refuses a version 0 or a version with leading zeros at load, naming the key', () => {
    for (const key of REFUSED) {
      assert.throws(
        () => loadSignOnPushConfig(env(key)),
        (err) => {
          assert.ok(err instanceof InvalidInputError, `${key}: ${String(err)}`);
          assert.ok(err.message.includes(JSON.stringify(key)), `${key}: ${err.message}`);
          assert.match(err.message, /from 1, no leading zeros/);
          return true;
        },
        key,
      );
      // The JSON form goes through the same rule.
      const json = {
        project: 'p',
        watch: [{ repositories: 'registry.example/team/**', key }],
        log: { kind: 'none' },
      };
      assert.throws(
        () => loadSignOnPushConfig({ SIGSENTRY_CONFIG: JSON.stringify(json) }),
        InvalidInputError,
        key,
      );
      // The function's dependencies are never built, so no push is ever claimed with it.
      assert.throws(() => signOnPushDepsFromEnv(env(key)), InvalidInputError, key);
    }
  });

  it('loads exactly the names the KMS signer takes (one rule for both)', () => {
    for (const key of [...REFUSED, ...ACCEPTED, `${VERSIONS}/1/extra`, 'projects/p/cryptoKeyVersions/1']) {
      let loads = true;
      try {
        loadSignOnPushConfig(env(key));
      } catch {
        loads = false;
      }
      assert.equal(loads, kmsSignerTakes(key), key);
    }
    for (const key of ACCEPTED) assert.equal(loadSignOnPushConfig(env(key)).watch[0]!.key, key);
  });
});
