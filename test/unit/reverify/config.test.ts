import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { loadSignOnPushConfig } from '../../../functions/config/sign-config.ts';
import { InvalidInputError } from '../../../functions/errors.ts';
import { loadMonitorConfig } from '../../../functions/monitor-log/config.ts';
import { loadReverifyConfig } from '../../../functions/reverify/config.ts';

const watchlistOnly = {
  GCP_PROJECT: 'p',
  SIGSENTRY_WATCHLIST: JSON.stringify([
    {
      image: 'index.docker.io/library/node:22',
      identity: 'https://github.com/nodejs/docker-node/.github/workflows/build.yml@refs/heads/main',
      issuer: 'https://token.actions.githubusercontent.com',
    },
  ]),
};

test('the registries redirect and token-realm hosts come from SIGSENTRY_REGISTRY_REDIRECT_HOSTS', () => {
  const config = loadReverifyConfig({
    ...watchlistOnly,
    SIGSENTRY_REGISTRY_REDIRECT_HOSTS: 'auth.docker.io, Production.Cloudflare.Docker.com',
  });
  assert.deepEqual(config.redirectHosts, ['auth.docker.io', 'production.cloudflare.docker.com']);
  assert.deepEqual(loadReverifyConfig(watchlistOnly).redirectHosts, []);
});

test('a redirect host that is not hostname[:port] is a configuration error naming it', () => {
  for (const bad of ['https://auth.docker.io', 'auth.docker.io/token', 'user@auth.docker.io']) {
    assert.throws(
      () => loadReverifyConfig({ ...watchlistOnly, SIGSENTRY_REGISTRY_REDIRECT_HOSTS: bad }),
      (err: unknown) => err instanceof InvalidInputError && /redirectHosts/.test(err.message),
      bad,
    );
  }
});

test('watchlist images that cannot be checked are refused when the configuration is read, saying why', () => {
  const load = (image: string) =>
    loadReverifyConfig({
      GCP_PROJECT: 'p',
      SIGSENTRY_WATCHLIST: JSON.stringify([{ image, identity: 'someone', issuer: 'https://issuer.example' }]),
    });
  const refused: Array<[string, RegExp]> = [
    ['docker.io/library/node:22', /index\.docker\.io\/library\/node:22/],
    ['library/node:22', /name the registry host/],
    ['node:22', /name the registry host/],
    ['ghcr.io/org/app@sha256:' + 'a'.repeat(64), /not a digest/],
    ['ghcr.io/org/app:v1@sha256:' + 'a'.repeat(64), /not a digest/],
    ['ghcr.io/Org/App:v1', /not HOST\/REPO:TAG/],
    ['ghcr.io/org/app:', /not HOST\/REPO:TAG/],
  ];
  for (const [image, why] of refused) {
    assert.throws(
      () => load(image),
      (err: unknown) => err instanceof InvalidInputError && why.test(err.message),
      image,
    );
  }
  for (const image of [
    'index.docker.io/library/node:22',
    'ghcr.io/sigstore/cosign/cosign:v2.4.1',
    'ghcr.io/sigstore/cosign/cosign',
    'localhost/team/app:v1',
    '127.0.0.1:5000/team/app',
  ]) {
    assert.equal(load(image).watchlist[0]?.image, image);
  }
});

test('a wildcard in the host of a watched repository glob is refused when the configuration is read', () => {
  assert.throws(
    () =>
      loadReverifyConfig({
        GCP_PROJECT: 'p',
        SIGSENTRY_WATCH: '*-docker.pkg.dev/p/r/**',
        SIGSENTRY_PUBLIC_KEYS: '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----',
      }),
    (err: unknown) =>
      err instanceof InvalidInputError && /host "\*-docker\.pkg\.dev" must be literal/.test(err.message),
  );
});

test('SIGSENTRY_PUBLIC_KEYS holding anything but PEM public keys is refused, not dropped in silence', () => {
  const pem = (body: string) => `-----BEGIN PUBLIC KEY-----\n${body}\n-----END PUBLIC KEY-----`;
  const env = { GCP_PROJECT: 'p', SIGSENTRY_WATCH: 'h/r/**' };
  assert.equal(
    loadReverifyConfig({ ...env, SIGSENTRY_PUBLIC_KEYS: `${pem('MFkw')}\n\n${pem('MFkx')}\n` }).publicKeys
      .length,
    2,
  );
  // Comma-separated, as infra's extra_public_keys passes them.
  const commas = `${pem('MFkw')},${pem('MFkx')}`;
  assert.equal(loadReverifyConfig({ ...env, SIGSENTRY_PUBLIC_KEYS: commas }).publicKeys.length, 2);
  for (const bad of [
    '-----BEGIN RSA PUBLIC KEY-----\nMIIB\n-----END RSA PUBLIC KEY-----',
    'gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1',
    `${pem('MFkw')}\n-----BEGIN PUBLIC KEY-----\nMFkx`,
  ]) {
    assert.throws(
      () => loadReverifyConfig({ ...env, SIGSENTRY_PUBLIC_KEYS: bad }),
      (err: unknown) => err instanceof InvalidInputError && /SIGSENTRY_PUBLIC_KEYS/.test(err.message),
      bad,
    );
  }
});

test('how long a tag may go without a verdict comes from SIGSENTRY_REVERIFY_STALE_AFTER_HOURS (24 by default)', () => {
  assert.equal(loadReverifyConfig(watchlistOnly).staleAfterHours, 24);
  assert.equal(
    loadReverifyConfig({ ...watchlistOnly, SIGSENTRY_REVERIFY_STALE_AFTER_HOURS: '12.5' }).staleAfterHours,
    12.5,
  );
  for (const bad of ['0', '-1', 'a day', '100000']) {
    assert.throws(
      () => loadReverifyConfig({ ...watchlistOnly, SIGSENTRY_REVERIFY_STALE_AFTER_HOURS: bad }),
      (err: unknown) => err instanceof InvalidInputError && /staleAfterHours/.test(err.message),
      bad,
    );
  }
});

// infra gives every function the same SIGSENTRY_CONFIG; signOnPush reads `watch` as rules.
test('one SIGSENTRY_CONFIG document configures signOnPush, reverifyImages and monitorLog alike', () => {
  const key = 'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1';
  const logKey = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .publicKey.export({ type: 'spki', format: 'pem' })
    .toString();
  const doc = {
    project: 'p',
    watch: [
      { repositories: 'europe-docker.pkg.dev/p/apps/**', key, formats: ['bundle'] },
      { repositories: 'europe-docker.pkg.dev/p/tools/*', key },
    ],
    log: { kind: 'rekor-v1', url: 'https://rekor.example' },
  };
  const env = { SIGSENTRY_CONFIG: JSON.stringify(doc), REKOR_PUBLIC_KEY: logKey };

  const sign = loadSignOnPushConfig(env);
  assert.deepEqual(
    sign.watch.map((r) => [r.repositories, r.key]),
    doc.watch.map((r) => [r.repositories, r.key]),
  );

  const reverify = loadReverifyConfig(env);
  assert.deepEqual(
    reverify.watch,
    doc.watch.map((r) => r.repositories),
  );
  assert.deepEqual(reverify.keys, [key]);
  assert.deepEqual(reverify.log, { kind: 'rekor-v1', url: 'https://rekor.example', publicKey: logKey });

  // monitorLog watches the document's log, and owns the key signOnPush signs with, as it owns
  // KMS_KEY in the plain variables (found by review: with no monitor section it refused to start).
  const monitor = loadMonitorConfig(env);
  assert.deepEqual(
    monitor.logs.map((l) => [l.kind, l.url, l.publicKey]),
    [['rekor-v1', 'https://rekor.example', logKey]],
  );
  assert.deepEqual(
    monitor.identities.map((i) => (i.type === 'kms' ? i.keyVersion : i.type)),
    [key],
  );
  // A monitor section of its own still says which logs.
  const v2Key = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const withLogs = loadMonitorConfig({
    ...env,
    SIGSENTRY_CONFIG: JSON.stringify({
      ...doc,
      monitor: {
        logs: [{ kind: 'rekor-v2', url: 'https://log2025-1.rekor.sigstore.dev', publicKey: v2Key }],
      },
    }),
  });
  assert.deepEqual(
    withLogs.logs.map((l) => l.kind),
    ['rekor-v2'],
  );
});

test("watch rules signing with different keys are refused by reverifyImages: each key would pass the other rule's images (found by review)", () => {
  const watch = [
    {
      repositories: 'europe-docker.pkg.dev/p/prod/**',
      key: 'projects/p/locations/global/keyRings/r/cryptoKeys/prod/cryptoKeyVersions/1',
    },
    {
      repositories: 'europe-docker.pkg.dev/p/dev/**',
      key: 'projects/p/locations/global/keyRings/r/cryptoKeys/dev/cryptoKeyVersions/1',
    },
  ];
  assert.throws(
    () =>
      loadReverifyConfig({
        SIGSENTRY_CONFIG: JSON.stringify({ project: 'p', watch, log: { kind: 'none' } }),
      }),
    (err: unknown) => err instanceof InvalidInputError && /different keys/.test(err.message),
  );
});

test('in SIGSENTRY_CONFIG, plain globs with keys still read, and a v2 log is refused by name', () => {
  const key = 'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1';
  const config = loadReverifyConfig({
    SIGSENTRY_CONFIG: JSON.stringify({
      project: 'p',
      watch: ['europe-docker.pkg.dev/p/apps/**'],
      keys: [key],
      log: { kind: 'none' },
    }),
  });
  assert.deepEqual(config.watch, ['europe-docker.pkg.dev/p/apps/**']);
  assert.deepEqual(config.keys, [key]);
  assert.throws(
    () =>
      loadReverifyConfig({
        SIGSENTRY_CONFIG: JSON.stringify({
          project: 'p',
          watch: [{ repositories: 'europe-docker.pkg.dev/p/apps/**', key }],
          log: { kind: 'rekor-v2', url: 'https://log2025-1.rekor.sigstore.dev' },
        }),
      }),
    (err: unknown) => err instanceof InvalidInputError && /Rekor v1 logs only/.test(err.message),
  );
});
