/**
 * Registries that use token authentication (Docker Hub, ghcr.io, quay.io) answer 401 with a Bearer
 * challenge even for public pulls. The client asks the challenge's realm for an anonymous token and
 * sends it; docker-registry in `auth: token` mode verifies those tokens, so these tests use it.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import fc from 'fast-check';
import { DependencyError, PolicyViolationError } from '../../../functions/errors.ts';
import { bearerChallenge, parseChallenges } from '../../../functions/registry/bearer-challenge.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { RegistryIntegrityError, RegistryRejectedError } from '../../../functions/registry/errors.ts';
import { type PushedManifest, startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { startTokenServer, type TokenServer } from '../../helpers/token-server.ts';

describe('WWW-Authenticate challenges', () => {
  test('the Bearer challenges real registries send are read', () => {
    // As sent by Docker Hub, ghcr.io, quay.io and docker-registry 2.8.
    assert.deepEqual(
      bearerChallenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/node:pull"',
      ),
      {
        realm: 'https://auth.docker.io/token',
        service: 'registry.docker.io',
        scope: 'repository:library/node:pull',
      },
    );
    assert.deepEqual(
      bearerChallenge(
        'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:sigstore/cosign/cosign:pull"',
      ),
      {
        realm: 'https://ghcr.io/token',
        service: 'ghcr.io',
        scope: 'repository:sigstore/cosign/cosign:pull',
      },
    );
    assert.deepEqual(bearerChallenge('Bearer realm="https://quay.io/v2/auth",service="quay.io"'), {
      realm: 'https://quay.io/v2/auth',
      service: 'quay.io',
    });
    assert.deepEqual(
      bearerChallenge(
        'Bearer realm="http://127.0.0.1:5001/token",service="r",scope="repository:a/b:pull",error="insufficient_scope"',
      ),
      { realm: 'http://127.0.0.1:5001/token', service: 'r', scope: 'repository:a/b:pull' },
    );
  });

  test('several challenges in one header, quoted commas, escapes and token68 are told apart', () => {
    const parsed = parseChallenges('Basic dGVzdA==, Basic realm="a, b", bEaReR  realm = "x\\"y" , scope=s_t');
    assert.deepEqual(
      parsed.map((c) => [c.scheme, Object.fromEntries(c.params)]),
      [
        ['basic', {}],
        ['basic', { realm: 'a, b' }],
        ['bearer', { realm: 'x"y', scope: 's_t' }],
      ],
    );
    assert.equal(bearerChallenge('Basic realm="registry"'), undefined);
    assert.equal(bearerChallenge('Bearer service="no realm"'), undefined);
    assert.equal(bearerChallenge('Bearer realm="unterminated'), undefined);
    assert.equal(bearerChallenge(null), undefined);
  });

  test('any header value parses without throwing, and a realm is only ever a parameter value', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (header) => {
        const challenge = bearerChallenge(header);
        if (challenge !== undefined) assert.ok(/realm/i.test(header));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('anonymous tokens against docker-registry in token mode', () => {
  let tokens: TokenServer;
  let registry: TestRegistry;
  let image: PushedManifest;

  before(async () => {
    tokens = await startTokenServer();
    registry = await startRegistry({ tokenAuth: tokens });
    image = await registry.pushImage('vendor/base', 'v1');
    await registry.pushImage('vendor/other', 'v1');
  });

  after(async () => {
    await registry?.stop();
    await tokens?.stop();
  });

  beforeEach(() => {
    tokens.requests.length = 0;
    tokens.expiresIn = 300;
    tokens.issueExpired = false;
    tokens.fault = undefined;
  });

  const client = () => new RegistryClient({ allowedHosts: [registry.host], redirectHosts: [tokens.host] });
  const repo = (repository: string) => ({ host: registry.host, repository });

  test('a public pull gets one anonymous pull token per repository and reads verified content', async () => {
    const registryClient = client();
    const d = await registryClient.resolve({ ...repo('vendor/base'), tag: 'v1' });
    assert.equal(d.digest, image.digest);
    const manifest = await registryClient.getManifest(repo('vendor/base'), image.digest);
    assert.deepEqual(Buffer.from(manifest.bytes), image.bytes);
    const layers = (JSON.parse(image.bytes.toString()) as { layers: Array<{ digest: string }> }).layers;
    await registryClient.getBlob(repo('vendor/base'), layers[0]!.digest);
    assert.deepEqual(await registryClient.listTags(repo('vendor/base')), ['v1']);
    assert.equal(tokens.requests.length, 1, 'one token for four requests to one repository');
    assert.deepEqual(tokens.requests[0], {
      service: tokens.service,
      scopes: ['repository:vendor/base:pull'],
      authorization: undefined,
    });

    await registryClient.resolve({ ...repo('vendor/other'), tag: 'v1' });
    assert.equal(tokens.requests.length, 2, 'another repository, another token');
    assert.deepEqual(tokens.requests[1]?.scopes, ['repository:vendor/other:pull']);
  });

  test('concurrent requests share one token request', async () => {
    const registryClient = client();
    const digests = await Promise.all(
      Array.from({ length: 16 }, () => registryClient.resolve({ ...repo('vendor/base'), tag: 'v1' })),
    );
    assert.ok(digests.every((d) => d.digest === image.digest));
    assert.equal(tokens.requests.length, 1);
  });

  test('a token about to expire is not kept: the next request asks again', async () => {
    tokens.expiresIn = 8; // under the 10 s margin
    const registryClient = client();
    await registryClient.resolve({ ...repo('vendor/base'), tag: 'v1' });
    await registryClient.resolve({ ...repo('vendor/base'), tag: 'v1' });
    assert.equal(tokens.requests.length, 2);
  });

  test('a kept token the registry refuses is renewed once; a fresh one refused too ends in the 401', async () => {
    tokens.issueExpired = true;
    const registryClient = client();
    const err = await registryClient.resolve({ ...repo('vendor/base'), tag: 'v1' }).catch((e: unknown) => e);
    assert.ok(err instanceof DependencyError, String(err));
    assert.equal(err.details['status'], 401);
    assert.equal(tokens.requests.length, 1, 'one token request, not a loop');

    // The refused token was kept (its expires_in said 300 s): the next request sends it, is refused,
    // asks for a new one, and succeeds with it; the one after that uses the new one.
    tokens.issueExpired = false;
    const d = await registryClient.resolve({ ...repo('vendor/base'), tag: 'v1' });
    assert.equal(d.digest, image.digest);
    assert.equal(tokens.requests.length, 2);
    await registryClient.resolve({ ...repo('vendor/base'), tag: 'v1' });
    assert.equal(tokens.requests.length, 2);
  });

  test('a push is challenged for pull,push; the anonymous token grants pull only, so it is refused', async () => {
    const err = await client()
      .putManifest(repo('vendor/base'), 'v2', image.bytes, image.mediaType)
      .catch((e: unknown) => e);
    assert.ok(err instanceof DependencyError, String(err));
    assert.equal(err.details['status'], 401);
    // docker-registry lists the actions in either order.
    const scopes = tokens.requests.at(-1)?.scopes ?? [];
    assert.equal(scopes.length, 1);
    assert.match(scopes[0]!, /^repository:vendor\/base:(pull,push|push,pull)$/);
    assert.equal(tokens.requests.at(-1)?.authorization, undefined);
  });

  test('a realm outside the allowlist is refused, and never contacted', async () => {
    const registryClient = new RegistryClient({ allowedHosts: [registry.host] });
    const err = await registryClient.resolve({ ...repo('vendor/base'), tag: 'v1' }).catch((e: unknown) => e);
    assert.ok(err instanceof PolicyViolationError, String(err));
    assert.match(err.message, new RegExp(tokens.host.replace(/[.]/g, '\\.')));
    assert.equal(err.details['reference'], `${registry.host}/vendor/base:v1`);
    assert.equal(tokens.requests.length, 0);
  });

  test('a token server failing or answering garbage is a typed error naming the reference', async () => {
    const cases: Array<[{ status: number; body: string }, new (...args: never[]) => Error]> = [
      [{ status: 503, body: '' }, DependencyError],
      [{ status: 400, body: '{"errors":[]}' }, RegistryRejectedError],
      [{ status: 200, body: '<html>' }, RegistryIntegrityError],
      [{ status: 200, body: '{"expires_in":300}' }, RegistryIntegrityError],
      [{ status: 200, body: '{"token":"two\\r\\nlines"}' }, RegistryIntegrityError],
      [{ status: 200, body: `{"token":"${'x'.repeat(70_000)}"}` }, RegistryIntegrityError],
    ];
    for (const [fault, type] of cases) {
      tokens.fault = fault;
      const err = await client()
        .resolve({ ...repo('vendor/base'), tag: 'v1' })
        .catch((e: unknown) => e);
      assert.ok(err instanceof type, `${fault.status} ${fault.body.slice(0, 40)}: ${String(err)}`);
      assert.equal((err as DependencyError).details['reference'], `${registry.host}/vendor/base:v1`);
    }
  });

  test('a registry credential, when configured for the host, is sent instead and no token is asked for', async () => {
    const registryClient = new RegistryClient({
      allowedHosts: [registry.host],
      redirectHosts: [tokens.host],
      authorization: async () => 'Bearer configured-but-wrong',
    });
    const err = await registryClient.resolve({ ...repo('vendor/base'), tag: 'v1' }).catch((e: unknown) => e);
    assert.ok(err instanceof DependencyError, String(err));
    assert.equal(err.details['status'], 401);
    assert.equal(tokens.requests.length, 0);
  });
});
