/**
 * A registry may redirect a blob read to storage with a pre-signed URL, whose query is a credential
 * (X-Goog-Signature, X-Amz-Signature). Error details reach logs and alerts, so every URL in them is
 * origin and path only. The registry and storage here are loopback servers.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { PolicyViolationError } from '../../../functions/errors.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { sha256Digest } from '../../../functions/registry/digest.ts';
import { RegistryIntegrityError } from '../../../functions/registry/errors.ts';
import { type ProxyIntercept, startProxy, type TestProxy } from '../../helpers/registry.ts';

const SECRET = 'deadbeefSECRET';
const SIGNED_QUERY = `X-Goog-Credential=sa%40p.iam&X-Goog-Signature=${SECRET}#frag-${SECRET}`;
const BLOB = sha256Digest(Buffer.from('a blob'));
const REPOSITORY = 'team/app';

const proxies: TestProxy[] = [];
after(async () => {
  for (const p of proxies) await p.stop();
});

async function server(intercept: ProxyIntercept): Promise<TestProxy> {
  const started = await startProxy(undefined, intercept);
  proxies.push(started);
  return started;
}

/** A registry that redirects every request to `storage` at the same path, with a signed query. */
async function redirectingTo(storage: TestProxy): Promise<TestProxy> {
  return await server((req, res) => {
    res.writeHead(307, { location: `${storage.url}${req.url.pathname}?${SIGNED_QUERY}` }).end();
    return true;
  });
}

function clientFor(registry: TestProxy, storage: TestProxy): RegistryClient {
  return new RegistryClient({
    allowedHosts: [registry.host],
    redirectHosts: [storage.host],
    authorization: async () => `Bearer registry-${SECRET}`,
  });
}

/** Asserts the error is of `type` and that neither its message nor its details hold the secret. */
function redacted(
  type: abstract new (...args: never[]) => Error,
  check: (details: Record<string, unknown>) => void,
) {
  return (err: unknown) => {
    assert.ok(err instanceof type, String(err));
    const json = JSON.stringify((err as unknown as { toJSON(): unknown }).toJSON());
    assert.ok(!json.includes(SECRET), json);
    assert.ok(!err.message.includes(SECRET), err.message);
    check((err as unknown as { details: Record<string, unknown> }).details);
    return true;
  };
}

describe('URLs in registry errors', () => {
  test('a redirected blob over its size cap is named by origin and path, not its signed query', async () => {
    const storage = await server((_req, res) => {
      res.writeHead(200).end('x'.repeat(2048));
      return true;
    });
    const registry = await redirectingTo(storage);
    await assert.rejects(
      clientFor(registry, storage).getBlob({ host: registry.host, repository: REPOSITORY }, BLOB, {
        maxBytes: 1024,
      }),
      redacted(RegistryIntegrityError, (details) => {
        assert.equal(details['url'], `${storage.url}/v2/${REPOSITORY}/blobs/${BLOB}`);
        assert.equal(details['digest'], BLOB);
      }),
    );
  });

  test('a signed storage URL that redirects on and on: "too many redirects" without the query', async () => {
    const storage = await server((req, res) => {
      res.writeHead(302, { location: `${req.url.pathname}?${SIGNED_QUERY}` }).end();
      return true;
    });
    const registry = await redirectingTo(storage);
    await assert.rejects(
      clientFor(registry, storage).getBlob({ host: registry.host, repository: REPOSITORY }, BLOB),
      redacted(RegistryIntegrityError, (details) => {
        assert.equal(details['url'], `${storage.url}/v2/${REPOSITORY}/blobs/${BLOB}`);
      }),
    );
  });

  test('a signed storage URL that redirects off the allowlist: redirectedFrom without the query', async () => {
    const storage = await server((_req, res) => {
      res.writeHead(302, { location: 'http://127.0.0.2:9/elsewhere' }).end();
      return true;
    });
    const registry = await redirectingTo(storage);
    await assert.rejects(
      clientFor(registry, storage).getBlob({ host: registry.host, repository: REPOSITORY }, BLOB),
      redacted(PolicyViolationError, (details) => {
        assert.equal(details['redirectedFrom'], `${storage.url}/v2/${REPOSITORY}/blobs/${BLOB}`);
      }),
    );
  });

  test('a signed storage URL that redirects without a Location: named without the query', async () => {
    const storage = await server((_req, res) => {
      res.writeHead(302).end();
      return true;
    });
    const registry = await redirectingTo(storage);
    await assert.rejects(
      clientFor(registry, storage).getBlob({ host: registry.host, repository: REPOSITORY }, BLOB),
      redacted(RegistryIntegrityError, (details) => {
        assert.equal(details['url'], `${storage.url}/v2/${REPOSITORY}/blobs/${BLOB}`);
      }),
    );
  });

  test('a Location that is not a URL is cut before its query, and loses its userinfo', async () => {
    const registry = await server((_req, res) => {
      res.writeHead(307, { location: `https://user:${SECRET}@[not-a-host/b?${SIGNED_QUERY}` }).end();
      return true;
    });
    const c = new RegistryClient({ allowedHosts: [registry.host] });
    await assert.rejects(
      c.getBlob({ host: registry.host, repository: REPOSITORY }, BLOB),
      redacted(RegistryIntegrityError, (details) => {
        assert.equal(details['location'], 'https://[not-a-host/b');
      }),
    );
  });

  test('a Link target that is not a URL, and one that loops, are named without their query', async () => {
    const unparseable = await server((_req, res) => {
      res
        .writeHead(200, {
          'content-type': 'application/json',
          link: `<http://[x/tags?token=${SECRET}>; rel="next"`,
        })
        .end(JSON.stringify({ tags: ['a'] }));
      return true;
    });
    const looping = await server((req, res) => {
      res
        .writeHead(200, {
          'content-type': 'application/json',
          link: `<${req.url.pathname}?token=${SECRET}>; rel="next"`,
        })
        .end(JSON.stringify({ tags: ['a'] }));
      return true;
    });
    await assert.rejects(
      new RegistryClient({ allowedHosts: [unparseable.host] }).listTags({
        host: unparseable.host,
        repository: 'r',
      }),
      redacted(RegistryIntegrityError, (details) => assert.equal(details['link'], 'http://[x/tags')),
    );
    await assert.rejects(
      new RegistryClient({ allowedHosts: [looping.host] }).listTags({ host: looping.host, repository: 'r' }),
      redacted(RegistryIntegrityError, (details) => {
        assert.equal(details['url'], `${looping.url}/v2/r/tags/list`);
      }),
    );
  });
});
