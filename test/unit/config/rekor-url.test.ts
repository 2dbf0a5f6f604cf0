/**
 * REKOR_URL is read the same way by every loader (functions/config/rekor-url.ts): exactly `none`
 * for no log, or an http(s) URL. A value that is `none` written otherwise (`None`, ` none`) used to
 * be taken for a log's URL and failed with an error about that "log"'s key in the trusted root (or
 * an invalid `log.url`), which does not say what is wrong; now each loader refuses it naming
 * REKOR_URL and saying to write `none` in lower case. It is never taken for `none`: a security
 * setting is read exactly.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadSignOnPushConfig } from '../../../functions/config/sign-config.ts';
import { InvalidInputError } from '../../../functions/errors.ts';
import { loadMonitorConfig } from '../../../functions/monitor-log/config.ts';
import { loadReverifyConfig } from '../../../functions/reverify/config.ts';

const keyVersion = 'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1';

/** What infra gives each function, but REKOR_URL. */
const base = {
  GCP_PROJECT: 'p',
  SIGSENTRY_WATCH: 'europe-docker.pkg.dev/p/releases/**',
  KMS_KEY: keyVersion,
};

const LOADERS: Array<[string, (env: NodeJS.ProcessEnv) => unknown]> = [
  ['signOnPush', loadSignOnPushConfig],
  ['reverifyImages', loadReverifyConfig],
  ['monitorLog', loadMonitorConfig],
];

function refusal(load: (env: NodeJS.ProcessEnv) => unknown, value: string): InvalidInputError {
  try {
    load({ ...base, REKOR_URL: value });
  } catch (err) {
    assert.ok(err instanceof InvalidInputError, `${JSON.stringify(value)}: ${String(err)}`);
    return err;
  }
  assert.fail(`REKOR_URL=${JSON.stringify(value)} was accepted`);
}

describe('REKOR_URL', () => {
  for (const [name, load] of LOADERS) {
    it(`${name}: none written otherwise is refused naming REKOR_URL, saying to write none in lower case`, () => {
      for (const value of ['None', 'NONE', ' none', 'none ', 'none\n', '\tNone ']) {
        const err = refusal(load, value);
        assert.match(
          err.message,
          /REKOR_URL is ".*": for a deployment without a transparency log write none, in lower case/,
        );
        assert.doesNotMatch(err.message, /trusted root|Invalid URL/, 'not an error about a log named so');
      }
    });

    it(`${name}: a value that is not an http(s) URL is refused naming REKOR_URL`, () => {
      for (const value of [
        'rekor.sigstore.dev',
        'ftp://rekor.example',
        'file:///etc/rekor',
        'https://',
        'nil',
      ]) {
        const err = refusal(load, value);
        assert.match(
          err.message,
          /REKOR_URL is ".*", which is not an http\(s\) URL: give the log's base URL/,
          value,
        );
      }
      const spaced = refusal(load, ' https://rekor.sigstore.dev ');
      assert.match(
        spaced.message,
        /REKOR_URL has white space around the URL "https:\/\/rekor.sigstore.dev\/": give the URL alone/,
      );
    });

    it(`${name}: a URL with credentials, a query or a fragment is refused: the API's paths are appended to it`, () => {
      for (const value of [
        'https://user:pw@rekor.example.com',
        'https://rekor.example.com/?shard=1',
        'https://rekor.example.com/#api',
      ]) {
        const err = refusal(load, value);
        assert.match(err.message, /REKOR_URL ".*" carries credentials, a query or a fragment/, value);
        assert.doesNotMatch(err.message, /pw|shard=1/, 'neither secret nor query quoted');
      }
    });

    it(`${name}: exactly none, and an http(s) URL, are read as before`, () => {
      assert.doesNotThrow(() => load({ ...base, REKOR_URL: 'none' }));
      assert.doesNotThrow(() => load({ ...base, REKOR_URL: 'https://rekor.sigstore.dev' }));
    });
  }

  it('a refused value is named without the credentials a URL may carry', () => {
    const err = refusal(loadMonitorConfig, 'ftp://user:s3cret@rekor.example/?token=t0ken');
    assert.doesNotMatch(err.message, /s3cret|t0ken/);
    assert.match(err.message, /REKOR_URL is "ftp:\/\/rekor.example\/"/);
  });

  it('each loader still reads none as no log', () => {
    assert.equal(loadSignOnPushConfig({ ...base, REKOR_URL: 'none' }).log.kind, 'none');
    assert.equal(loadReverifyConfig({ ...base, REKOR_URL: 'none' }).log?.kind, 'none');
    assert.deepEqual(loadMonitorConfig({ ...base, REKOR_URL: 'none' }).logs, []);
  });
});
