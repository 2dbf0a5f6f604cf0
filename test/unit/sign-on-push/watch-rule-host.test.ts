/**
 * A watch rule's host is compared literally with each message's host and becomes the registry
 * client's allowlist, so a wildcard there is refused when the configuration is loaded rather than
 * matching through the glob and then refusing every push with a HIGH alert.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadSignOnPushConfig } from '../../../functions/config/sign-config.ts';
import { InvalidInputError } from '../../../functions/errors.ts';

const KEY = 'projects/p/locations/l/keyRings/k/cryptoKeys/c/cryptoKeyVersions/1';
const configWatching = (...repositories: string[]) => ({
  SIGSENTRY_CONFIG: JSON.stringify({
    project: 'p',
    watch: repositories.map((r) => ({ repositories: r, key: KEY })),
    log: { kind: 'none' },
  }),
});

describe('the host of a signOnPush watch rule', () => {
  for (const rule of ['*-docker.pkg.dev/p/r/**', '**/p/r/**', 'us-docker.pkg.de?/p/r/**', 'us-*.pkg.dev']) {
    test(`a wildcard in it is refused when loading: ${rule}`, () => {
      assert.throws(
        () => loadSignOnPushConfig(configWatching('us-docker.pkg.dev/p/ok/**', rule)),
        (err: unknown) =>
          err instanceof InvalidInputError &&
          err.message.includes(`watch rule "${rule}"`) &&
          err.message.includes('must be literal'),
      );
    });
  }

  test('also from SIGSENTRY_WATCH', () => {
    assert.throws(
      () =>
        loadSignOnPushConfig({ GCP_PROJECT: 'p', KMS_KEY: KEY, SIGSENTRY_WATCH: '*-docker.pkg.dev/p/r/**' }),
      /watch rule "\*-docker\.pkg\.dev\/p\/r\/\*\*": the host "\*-docker\.pkg\.dev" must be literal/,
    );
  });

  test('a literal host (with a port) and wildcards after it are accepted', () => {
    const config = loadSignOnPushConfig(configWatching('us-docker.pkg.dev/p/*/**', 'localhost:5000/team/**'));
    assert.deepEqual(
      config.watch.map((r) => r.repositories),
      ['us-docker.pkg.dev/p/*/**', 'localhost:5000/team/**'],
    );
  });
});
