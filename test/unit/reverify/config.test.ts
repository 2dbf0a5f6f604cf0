import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { loadSignOnPushConfig, ruleFor } from '../../../functions/config/sign-config.ts';
import { InvalidInputError } from '../../../functions/errors.ts';
import { loadMonitorConfig } from '../../../functions/monitor-log/config.ts';
import { expectedKeysFor, loadReverifyConfig } from '../../../functions/reverify/config.ts';
import { watchlistPolicy } from '../../../functions/reverify/from-env.ts';

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
    doc.watch.map((r) => ({ repositories: r.repositories, key: r.key })),
  );
  // `keys` are those the document lists for every repository: the rules' keys stay with their globs.
  assert.deepEqual(reverify.keys, []);
  assert.deepEqual(expectedKeysFor(reverify, 'europe-docker.pkg.dev/p/tools/cli'), {
    keys: [key],
    publicKeys: [],
  });
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

const kmsKey = (name: string) =>
  `projects/p/locations/global/keyRings/r/cryptoKeys/${name}/cryptoKeyVersions/1`;
const pemKey = () =>
  generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .publicKey.export({ type: 'spki', format: 'pem' })
    .toString();

// Before, such a document was refused outright (each key would have passed the other rule's images),
// so a deployment signing with a key per group of repositories could not run reverifyImages at all.
test("watch rules signing with different keys: each rule's repositories expect its key, and the keys listed for every repository, never the other rule's key", () => {
  const [prod, dev, rotated] = [kmsKey('prod'), kmsKey('dev'), kmsKey('rotated')];
  const publicKey = pemKey();
  const doc = {
    project: 'p',
    watch: [
      { repositories: 'europe-docker.pkg.dev/p/prod/**', key: prod, formats: ['bundle'] },
      { repositories: 'europe-docker.pkg.dev/p/dev/**', key: dev },
    ],
    keys: [rotated],
    publicKeys: [publicKey],
    log: { kind: 'none' },
  };
  const config = loadReverifyConfig({ SIGSENTRY_CONFIG: JSON.stringify(doc) });
  assert.deepEqual(config.watch, [
    { repositories: 'europe-docker.pkg.dev/p/prod/**', key: prod },
    { repositories: 'europe-docker.pkg.dev/p/dev/**', key: dev },
  ]);
  assert.deepEqual(config.keys, [rotated]);
  assert.deepEqual(config.publicKeys, [publicKey]);
  assert.deepEqual(expectedKeysFor(config, 'europe-docker.pkg.dev/p/prod/api'), {
    keys: [prod, rotated],
    publicKeys: [publicKey],
  });
  assert.deepEqual(expectedKeysFor(config, 'europe-docker.pkg.dev/p/dev/team/api'), {
    keys: [dev, rotated],
    publicKeys: [publicKey],
  });
  assert.equal(expectedKeysFor(config, 'europe-docker.pkg.dev/p/staging/api'), undefined);
  // A rule's key listed for every repository as well is expected once.
  const listedToo = loadReverifyConfig({ SIGSENTRY_CONFIG: JSON.stringify({ ...doc, keys: [dev] }) });
  assert.deepEqual(expectedKeysFor(listedToo, 'europe-docker.pkg.dev/p/dev/api')?.keys, [dev]);
  assert.deepEqual(expectedKeysFor(listedToo, 'europe-docker.pkg.dev/p/prod/api')?.keys, [prod, dev]);
});

test('where watch globs overlap, a repository expects the key of the first rule matching it, the one signOnPush signs it with', () => {
  const rules = [
    { repositories: 'europe-docker.pkg.dev/p/prod/special/*', key: kmsKey('special') },
    { repositories: 'europe-docker.pkg.dev/p/prod/**', key: kmsKey('prod') },
    { repositories: 'europe-docker.pkg.dev/p/**', key: kmsKey('everything') },
  ];
  const repositories = [
    'europe-docker.pkg.dev/p/prod/special/api',
    'europe-docker.pkg.dev/p/prod/special/api/v2',
    'europe-docker.pkg.dev/p/prod/api',
    'europe-docker.pkg.dev/p/dev/api',
    'europe-docker.pkg.dev/p/api',
  ];
  for (const watch of [rules, [...rules].reverse()]) {
    const env = { SIGSENTRY_CONFIG: JSON.stringify({ project: 'p', watch, log: { kind: 'none' } }) };
    const sign = loadSignOnPushConfig(env);
    const reverify = loadReverifyConfig(env);
    for (const repository of repositories) {
      assert.deepEqual(
        expectedKeysFor(reverify, repository)?.keys,
        [ruleFor(sign, repository)!.key],
        `${repository} under ${watch.map((r) => r.repositories).join(', ')}`,
      );
    }
  }
  // The first order gives the nested repository its own key, the reverse gives every one the widest.
  const first = loadReverifyConfig({
    SIGSENTRY_CONFIG: JSON.stringify({ project: 'p', watch: rules, log: { kind: 'none' } }),
  });
  assert.deepEqual(expectedKeysFor(first, 'europe-docker.pkg.dev/p/prod/special/api')?.keys, [
    kmsKey('special'),
  ]);
  assert.deepEqual(expectedKeysFor(first, 'europe-docker.pkg.dev/p/prod/special/api/v2')?.keys, [
    kmsKey('prod'),
  ]);
});

test('the plain variables expect every KMS_KEY and SIGSENTRY_PUBLIC_KEYS key on every watched repository, as before', () => {
  const [one, two] = [kmsKey('one'), `gcpkms://${kmsKey('two')}`];
  const publicKey = pemKey();
  const config = loadReverifyConfig({
    GCP_PROJECT: 'p',
    SIGSENTRY_WATCH: 'europe-docker.pkg.dev/p/prod/**, europe-docker.pkg.dev/p/dev/**',
    KMS_KEY: `${one},${two}`,
    SIGSENTRY_PUBLIC_KEYS: publicKey,
    REKOR_URL: 'none',
  });
  assert.deepEqual(config.watch, [
    { repositories: 'europe-docker.pkg.dev/p/prod/**' },
    { repositories: 'europe-docker.pkg.dev/p/dev/**' },
  ]);
  assert.deepEqual(config.keys, [one, two]);
  for (const repository of ['europe-docker.pkg.dev/p/prod/api', 'europe-docker.pkg.dev/p/dev/api']) {
    assert.deepEqual(expectedKeysFor(config, repository), {
      keys: [one, two],
      publicKeys: [`${publicKey.trim()}\n`],
    });
  }
});

test('a watch rule without a key, and no key listed for every repository, is refused naming its glob', () => {
  assert.throws(
    () =>
      loadReverifyConfig({
        SIGSENTRY_CONFIG: JSON.stringify({
          project: 'p',
          watch: [
            { repositories: 'europe-docker.pkg.dev/p/prod/**', key: kmsKey('prod') },
            'europe-docker.pkg.dev/p/dev/**',
          ],
          log: { kind: 'none' },
        }),
      }),
    (err: unknown) =>
      err instanceof InvalidInputError &&
      /need an expected key/.test(err.message) &&
      JSON.stringify(err.details.repositories) === JSON.stringify(['europe-docker.pkg.dev/p/dev/**']),
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
  assert.deepEqual(config.watch, [{ repositories: 'europe-docker.pkg.dev/p/apps/**' }]);
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

test('a watchlist identity pattern must compile and be anchored, ^…$; it is matched against the whole identity', () => {
  const load = (identity: string) =>
    loadReverifyConfig({
      GCP_PROJECT: 'p',
      SIGSENTRY_WATCHLIST: JSON.stringify([
        {
          image: 'cgr.dev/chainguard/static:latest',
          identity,
          identityRegexp: true,
          issuer: 'https://token.actions.githubusercontent.com',
        },
      ]),
    });
  const refused: Array<[string, RegExp]> = [
    ['chainguard-images/images/.*', /must be anchored/],
    ['^https://github\\.com/chainguard-images/images/.*', /must be anchored/],
    ['https://github\\.com/chainguard-images/images/.*$', /must be anchored/],
    ['^https://github\\.com/chainguard-images/images/.*\\$', /must be anchored/],
    ['^https://github.com/(chainguard-images$', /is not a regular expression/],
  ];
  for (const [identity, why] of refused) {
    assert.throws(
      () => load(identity),
      (err: unknown) =>
        err instanceof InvalidInputError && why.test(err.message) && /identity/.test(err.message),
      identity,
    );
  }
  const anchored =
    '^https://github\\.com/chainguard-images/images/\\.github/workflows/release\\.yaml@refs/heads/main$';
  assert.equal(load(anchored).watchlist[0]?.identity, anchored);
  assert.equal(
    load('^price\\\\$').watchlist.length,
    1,
    'an escaped backslash before the anchor leaves it an anchor',
  );

  const pattern = watchlistPolicy(
    load('^https://github\\.com/org/.*|https://gitlab\\.com/org/.*$').watchlist[0]!,
  ).identities[0]!.subjectAlternativeName as RegExp;
  assert.ok(pattern.test('https://github.com/org/app/.github/workflows/release.yml@refs/heads/main'));
  assert.ok(pattern.test('https://gitlab.com/org/app//.gitlab-ci.yml@refs/heads/main'));
  // Each alternative is matched whole: neither end of the alternation is left open.
  assert.ok(
    !pattern.test('https://evil.example/https://gitlab.com/org/app'),
    'the second alternative from its start',
  );
  assert.ok(!pattern.test('x-https://github.com/org/app'), 'the first alternative from the start');
});

// The monitor serves a v1 log whose info lists no shards through its `indexOffset`; reverifyImages
// holds the same log's inclusion proofs to it (reverify/inclusion.ts), from the same setting.
test("in SIGSENTRY_CONFIG, the monitor's indexOffset for the document's log is reverifyImages' too; none for another log", () => {
  const logKey = pemKey();
  const url = 'https://rekor.example';
  const doc = (monitorLogs: unknown[], log: Record<string, unknown> = {}) => ({
    SIGSENTRY_CONFIG: JSON.stringify({
      project: 'p',
      watch: [{ repositories: 'europe-docker.pkg.dev/p/apps/**', key: kmsKey('k') }],
      log: { kind: 'rekor-v1', url, publicKey: logKey, ...log },
      monitor: { logs: monitorLogs, identities: [{ type: 'kms', keyVersion: kmsKey('k') }] },
    }),
  });
  const monitored = (over: Record<string, unknown>) => ({
    kind: 'rekor-v1',
    url,
    publicKey: logKey,
    ...over,
  });

  const env = doc([monitored({ url: `${url}/`, indexOffset: 1000 })]);
  assert.equal(loadMonitorConfig(env).logs[0]!.indexOffset, 1000);
  assert.deepEqual(loadReverifyConfig(env).log, {
    kind: 'rekor-v1',
    url,
    publicKey: logKey,
    indexOffset: 1000,
  });

  // The same log written otherwise (host case, the default port, a trailing slash) is the same log.
  for (const written of ['https://REKOR.example:443/', 'https://Rekor.Example']) {
    const same = loadReverifyConfig(doc([monitored({ url: written, indexOffset: 1000 })]));
    assert.equal((same.log as { indexOffset?: number }).indexOffset, 1000, written);
  }

  // Another log's offset is not this one's; an offset on the document's own log, which the monitor
  // does not read, is not read here either.
  const other = loadReverifyConfig(doc([monitored({ url: 'https://other.example', indexOffset: 7 })]));
  assert.deepEqual(other.log, { kind: 'rekor-v1', url, publicKey: logKey });
  const onLog = doc([monitored({})], { indexOffset: 7 });
  assert.equal(loadMonitorConfig(onLog).logs[0]!.indexOffset, undefined);
  assert.deepEqual(loadReverifyConfig(onLog).log, { kind: 'rekor-v1', url, publicKey: logKey });

  // Two offsets for one log, or one that is no log index, are refused.
  assert.throws(
    () => loadReverifyConfig(doc([monitored({ indexOffset: 1 }), monitored({ name: 'b', indexOffset: 2 })])),
    (err: unknown) =>
      err instanceof InvalidInputError &&
      /gives the log https:\/\/rekor\.example two indexOffsets \(1, 2\)/.test(err.message),
  );
  assert.throws(
    () => loadReverifyConfig(doc([monitored({ indexOffset: -1 })])),
    (err: unknown) => err instanceof InvalidInputError && /indexOffset/.test(err.message),
  );
});
