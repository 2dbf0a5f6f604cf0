import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidInputError } from '../../../functions/errors.ts';
import { loadMonitorConfig } from '../../../functions/monitor-log/config.ts';
import { loadReverifyConfig } from '../../../functions/reverify/config.ts';

// rekor.sigstore.dev's key, as sigstore/root-signing publishes it (targets/rekor.pub).
const PUBLIC_GOOD_REKOR_KEY = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwr
kBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw==
-----END PUBLIC KEY-----
`;
const keyVersion = 'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1';
const monitorEnv = { GCP_PROJECT: 'p', KMS_KEY: keyVersion };
const reverifyEnv = {
  GCP_PROJECT: 'p',
  KMS_KEY: keyVersion,
  SIGSENTRY_WATCH: 'europe-docker.pkg.dev/p/r/**',
};

describe('the log key when REKOR_PUBLIC_KEY is not set (the infra default)', () => {
  for (const url of ['https://rekor.sigstore.dev', 'https://rekor.sigstore.dev/']) {
    it(`a public-good log (${url}) gets its key from the embedded trusted root`, () => {
      const monitor = loadMonitorConfig({ ...monitorEnv, REKOR_URL: url });
      assert.equal(monitor.logs[0]?.publicKey, PUBLIC_GOOD_REKOR_KEY);
      const reverify = loadReverifyConfig({ ...reverifyEnv, REKOR_URL: url });
      assert.equal(reverify.log.kind, 'rekor-v1');
      assert.equal(reverify.log.kind === 'rekor-v1' && reverify.log.publicKey, PUBLIC_GOOD_REKOR_KEY);
    });
  }

  it('a log the trusted root does not list is a configuration error naming REKOR_PUBLIC_KEY', () => {
    const refused = (err: unknown) =>
      err instanceof InvalidInputError && /REKOR_PUBLIC_KEY/.test(err.message);
    const env = { REKOR_URL: 'https://rekor.example.com' };
    assert.throws(() => loadMonitorConfig({ ...monitorEnv, ...env }), refused);
    assert.throws(() => loadReverifyConfig({ ...reverifyEnv, ...env }), refused);
  });

  it('REKOR_PUBLIC_KEY still wins over the trusted root', () => {
    const other = '-----BEGIN PUBLIC KEY-----\nother\n-----END PUBLIC KEY-----\n';
    const env = { REKOR_URL: 'https://rekor.sigstore.dev', REKOR_PUBLIC_KEY: other };
    assert.equal(loadMonitorConfig({ ...monitorEnv, ...env }).logs[0]?.publicKey, other);
  });
});
