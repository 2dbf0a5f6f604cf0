import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DependencyError } from '../../../functions/errors.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import {
  googleRegistryAuthorization,
  isGoogleRegistryHost,
} from '../../../functions/registry/google-auth.ts';

describe('Google registry credentials', () => {
  test('are for Artifact Registry and gcr.io hosts only', () => {
    for (const host of [
      'us-docker.pkg.dev',
      'europe-west1-docker.pkg.dev',
      'US-CENTRAL1-DOCKER.PKG.DEV',
      'gcr.io',
      'eu.gcr.io',
    ]) {
      assert.equal(isGoogleRegistryHost(host), true, host);
    }
    for (const host of [
      '127.0.0.1:5000',
      'registry-1.docker.io',
      'ghcr.io',
      'xgcr.io',
      'gcr.io.example.com',
      'us-docker.pkg.dev.example.com',
      'example.com/us-docker.pkg.dev',
      '-docker.pkg.dev',
      'us-docker.pkg.dev:8443',
    ]) {
      assert.equal(isGoogleRegistryHost(host), false, host);
    }
  });

  test('are the access token as a bearer token; other hosts get none, and no token is asked for them', async () => {
    let created = 0;
    let asked = 0;
    const authorization = googleRegistryAuthorization(() => {
      created++;
      return {
        getAccessToken: async () => {
          asked++;
          return 'ya29.token';
        },
      };
    });
    assert.equal(await authorization('127.0.0.1:5000'), undefined);
    assert.equal(await authorization('registry-1.docker.io'), undefined);
    assert.equal(created, 0);
    assert.equal(await authorization('us-docker.pkg.dev'), 'Bearer ya29.token');
    assert.equal(await authorization('gcr.io'), 'Bearer ya29.token');
    assert.equal(created, 1, 'one token source, whose cache serves every request');
    assert.equal(asked, 2);
  });

  test('that cannot be had fail the request with a retryable error naming the host, before anything is sent', async () => {
    const sent: string[] = [];
    for (const getAccessToken of [
      async () => {
        throw new Error('Could not load the default credentials');
      },
      async () => null,
    ]) {
      const registry = new RegistryClient({
        allowedHosts: ['us-docker.pkg.dev'],
        authorization: googleRegistryAuthorization(() => ({ getAccessToken })),
        fetch: async (input) => {
          sent.push(String(input));
          return new Response(null, { status: 500 });
        },
      });
      await assert.rejects(
        registry.resolve({ host: 'us-docker.pkg.dev', repository: 'p/r/app', tag: 'v1' }),
        (err) => {
          assert.ok(err instanceof DependencyError, String(err));
          assert.equal(err.retryable, true);
          assert.equal(err.details['host'], 'us-docker.pkg.dev');
          assert.match(err.message, /no Google access token for registry us-docker\.pkg\.dev/);
          return true;
        },
      );
    }
    assert.deepEqual(sent, []);
  });

  test('are sent to the registry with its requests', async () => {
    const seen: Array<string | null> = [];
    const registry = new RegistryClient({
      allowedHosts: ['europe-west1-docker.pkg.dev'],
      authorization: googleRegistryAuthorization(() => ({ getAccessToken: async () => 'ya29.token' })),
      fetch: async (_input, init) => {
        seen.push(new Headers(init?.headers).get('authorization'));
        return new Response(null, { status: 404 });
      },
    });
    await assert.rejects(
      registry.resolve({ host: 'europe-west1-docker.pkg.dev', repository: 'p/r/app', tag: 'v1' }),
    );
    assert.ok(seen.length > 0);
    assert.ok(
      seen.every((h) => h === 'Bearer ya29.token'),
      seen.join(' '),
    );
  });
});
