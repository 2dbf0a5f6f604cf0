/**
 * A watch rule's host is compared literally with each message's host and becomes the registry
 * client's allowlist, so a wildcard there is refused when the configuration is loaded rather than
 * matching through the glob and then refusing every push with a HIGH alert. A rule no push can
 * match (upper case, a scheme, a default port, a path outside the distribution grammar) is refused
 * too, rather than leaving every push of its repositories skipped as not watched.
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

  // Each would match no push Artifact Registry announces (references name a lower-case host
  // without scheme or default port, and a lower-case path): every push skipped as not watched.
  for (const [rule, why] of [
    ['US-docker.pkg.dev/p/r/**', /the host "US-docker\.pkg\.dev" is not one image references name/],
    ['https://us-docker.pkg.dev/p/r/**', /write it without a scheme/],
    [
      'us-docker.pkg.dev:443/p/r/**',
      /default port, which image references leave out; write "us-docker\.pkg\.dev"/,
    ],
    ['us-docker.pkg.dev/p/Repo/**', /the repository part "p\/Repo\/\*\*" is not a repository path/],
    ['us-docker.pkg.dev/p/r/', /the repository part "p\/r\/" is not a repository path/],
    ['us-docker.pkg.dev', /the repository part "" is not a repository path/],
    ['us-docker.pkg.dev/p r/**', /the repository part "p r\/\*\*" is not a repository path/],
  ] as const) {
    test(`a rule that can match no push is refused when loading: ${rule}`, () => {
      assert.throws(
        () => loadSignOnPushConfig(configWatching('us-docker.pkg.dev/p/ok/**', rule)),
        (err: unknown) =>
          err instanceof InvalidInputError &&
          err.message.includes(`watch rule "${rule}"`) &&
          why.test(err.message),
      );
    });
  }

  test('a literal host (with a port) and wildcards after it are accepted', () => {
    const rules = [
      'us-docker.pkg.dev/p/*/**',
      'localhost:5000/team/**',
      '127.0.0.1:34567/**',
      'europe-west1-docker.pkg.dev/my-project/team-*/app?',
      'gcr.io/p/a__b/*.x',
    ];
    const config = loadSignOnPushConfig(configWatching(...rules));
    assert.deepEqual(
      config.watch.map((r) => r.repositories),
      rules,
    );
  });
});
