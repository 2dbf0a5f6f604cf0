import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidInputError } from '../../../functions/errors.ts';
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
