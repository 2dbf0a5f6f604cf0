/**
 * A URL a registry hands over (a pagination `Link: rel="next"`, a blob upload `Location`) is followed
 * only on that registry's origin, and a `Link` only on the same listing. reverifyImages uses one client
 * for the watched Google hosts and the third-party watchlist hosts, and credentials are chosen per
 * origin: a Link from a hostile third party to a Google host used to be followed as a request of its
 * own, with the Google token, and what the Google host answered was listed as the third party's.
 * Loopback servers stand in for both hosts (two ports, two origins).
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { sha256Digest } from '../../../functions/registry/digest.ts';
import { RegistryIntegrityError } from '../../../functions/registry/errors.ts';
import { RegistryHttp } from '../../../functions/registry/http.ts';
import { OCI_INDEX, OCTET_STREAM } from '../../../functions/registry/media-types.ts';
import {
  type ProxiedRequest,
  startProxy,
  startRegistry,
  type TestProxy,
  type TestRegistry,
} from '../../helpers/registry.ts';

const GOOGLE_TOKEN = 'Bearer GOOGLE-ACCESS-TOKEN';
const THIRD_TOKEN = 'Bearer THIRD-PARTY-TOKEN';
const PRIVATE_LISTING = '/v2/private-project/secret-repo/tags/list';

const proxies: TestProxy[] = [];
let registry: TestRegistry;
before(async () => {
  registry = await startRegistry();
});
after(async () => {
  for (const p of proxies) await p.stop();
  await registry?.stop();
});

async function server(intercept: (req: ProxiedRequest, res: ServerResponse) => boolean): Promise<TestProxy> {
  const started = await startProxy(undefined, intercept);
  proxies.push(started);
  return started;
}

/** A Google-like host that answers its private listing (and anything else with 404). */
async function googleHost(): Promise<TestProxy> {
  return await server((req, res) => {
    if (req.url.pathname !== PRIVATE_LISTING) return false;
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ name: 'private-project/secret-repo', tags: ['v9-unreleased-codename'] }));
    return true;
  });
}

/** One client for both hosts, each with its own credentials, as reverifyImages builds it. */
function clientFor(google: TestProxy, third: TestProxy): RegistryClient {
  return new RegistryClient({
    allowedHosts: [google.host, third.host],
    authorization: async (host) =>
      host === google.host ? GOOGLE_TOKEN : host === third.host ? THIRD_TOKEN : undefined,
  });
}

/** A refusal of a handed-over URL: a RegistryIntegrityError (ForeignTargetError) naming it. */
function refusedTarget(url: string, message: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof RegistryIntegrityError, String(err));
    assert.equal(err.name, 'ForeignTargetError');
    assert.equal(err.details['url'], url);
    assert.match(err.message, message);
    assert.ok(err.message.includes(url), err.message);
    return true;
  };
}

describe('pagination Link', () => {
  test('a tag-list Link to another allowlisted origin is refused: nothing (no token) is sent there', async () => {
    const google = await googleHost();
    const third = await server((req, res) => {
      if (req.url.pathname !== '/v2/lib/base/tags/list') return false;
      res
        .writeHead(200, {
          'content-type': 'application/json',
          link: `<${google.url}${PRIVATE_LISTING}?n=100>; rel="next"`,
        })
        .end(JSON.stringify({ name: 'lib/base', tags: ['1.0'] }));
      return true;
    });
    await assert.rejects(
      clientFor(google, third).listTags({ host: third.host, repository: 'lib/base' }),
      refusedTarget(`${google.url}${PRIVATE_LISTING}`, /not on the listing/),
    );
    assert.deepEqual(google.requests, [], 'the Google host was sent a request a third party chose');
    assert.equal(third.requests.length, 1);
  });

  test('a referrers Link to another allowlisted origin is refused the same way', async () => {
    const subject = sha256Digest(Buffer.from('subject'));
    const google = await googleHost();
    const third = await server((_req, res) => {
      res
        .writeHead(200, {
          'content-type': OCI_INDEX,
          link: `<${google.url}/v2/private-project/secret-repo/referrers/${subject}>; rel="next"`,
        })
        .end(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }));
      return true;
    });
    await assert.rejects(
      clientFor(google, third).referrers({ host: third.host, repository: 'lib/base' }, subject),
      refusedTarget(`${google.url}/v2/private-project/secret-repo/referrers/${subject}`, /list referrers/),
    );
    assert.deepEqual(google.requests, []);
  });

  test('a Link on the same origin to another listing (another repository) is refused', async () => {
    const google = await googleHost();
    const third = await server((req, res) => {
      const other = req.url.pathname === '/v2/other/repo/tags/list';
      res
        .writeHead(200, {
          'content-type': 'application/json',
          ...(other ? {} : { link: '</v2/other/repo/tags/list>; rel="next"' }),
        })
        .end(JSON.stringify({ tags: [other ? 'other-tag' : '1.0'] }));
      return true;
    });
    await assert.rejects(
      clientFor(google, third).listTags({ host: third.host, repository: 'lib/base' }),
      refusedTarget(`${third.url}/v2/other/repo/tags/list`, /not on the listing/),
    );
    assert.equal(third.requests.length, 1, 'the other listing was read');
  });

  test('a relative Link and an absolute one on the same origin are followed, with that origin’s credentials', async () => {
    const google = await googleHost();
    const pages: Record<string, { tags: string[]; link?: string }> = {};
    const third = await server((req, res) => {
      if (req.url.pathname !== '/v2/lib/base/tags/list') return false;
      const page = pages[req.url.searchParams.get('last') ?? ''];
      if (page === undefined) return false;
      res
        .writeHead(200, {
          'content-type': 'application/json',
          ...(page.link === undefined ? {} : { link: `<${page.link}>; rel="next"` }),
        })
        .end(JSON.stringify({ name: 'lib/base', tags: page.tags }));
      return true;
    });
    pages[''] = { tags: ['a'], link: '/v2/lib/base/tags/list?n=1&last=a' };
    pages['a'] = { tags: ['b'], link: `${third.url}/v2/lib/base/tags/list?n=1&last=b` };
    pages['b'] = { tags: ['c'] };
    const tags = await clientFor(google, third).listTags(
      { host: third.host, repository: 'lib/base' },
      { pageSize: 1 },
    );
    assert.deepEqual(tags, ['a', 'b', 'c']);
    assert.deepEqual(
      third.requests.map((r) => r.headers['authorization']),
      [THIRD_TOKEN, THIRD_TOKEN, THIRD_TOKEN],
    );
    assert.deepEqual(google.requests, []);
  });
});

describe('blob upload Location', () => {
  /** A registry stub that opens an upload session at `location` and stores nothing. */
  async function uploadStub(location: (self: string) => string): Promise<TestProxy> {
    let self = '';
    const stub = await server((req, res) => {
      if (req.method === 'POST' && req.url.pathname === '/v2/team/app/blobs/uploads/') {
        res.writeHead(202, { location: location(self) }).end();
        return true;
      }
      return false; // HEAD of the blob: 404, so the upload goes ahead
    });
    self = stub.url;
    return stub;
  }

  test('an upload Location on another allowlisted origin is refused: neither the blob nor a token goes there', async () => {
    const google = await googleHost();
    const third = await uploadStub(() => `${google.url}/v2/private-project/secret-repo/blobs/uploads/abc`);
    await assert.rejects(
      clientFor(google, third).putBlob(
        { host: third.host, repository: 'team/app' },
        Buffer.from('payload'),
        OCTET_STREAM,
      ),
      refusedTarget(`${google.url}/v2/private-project/secret-repo/blobs/uploads/abc`, /blob upload/),
    );
    assert.deepEqual(
      google.requests,
      [],
      'the blob and the Google token were sent where the third party said',
    );
  });

  test('an absolute Location on the registry’s origin and a relative one both upload', async () => {
    // docker-registry answers an absolute Location (rewritten to the proxy's own origin by the proxy).
    const absolute = await startProxy(registry.url);
    proxies.push(absolute);
    const relative = await startProxy(registry.url, async (req, res) => {
      if (req.method !== 'POST' || !req.url.pathname.endsWith('/blobs/uploads/')) return false;
      const upstream = await fetch(new URL(req.url.pathname, registry.url), { method: 'POST' });
      await upstream.arrayBuffer();
      const location = new URL(upstream.headers.get('location') ?? '', registry.url);
      res.writeHead(upstream.status, { location: `${location.pathname}${location.search}` }).end();
      return true;
    });
    proxies.push(relative);
    for (const [proxy, body] of [
      [absolute, 'absolute location'],
      [relative, 'relative location'],
    ] as const) {
      const c = new RegistryClient({ allowedHosts: [proxy.host] });
      const repo = { host: proxy.host, repository: 'team/upload' };
      const blob = await c.putBlob(repo, Buffer.from(body), OCTET_STREAM);
      assert.equal(await c.hasBlob(repo, blob.digest), true, body);
      const put = proxy.requests.find((r) => r.method === 'PUT');
      assert.equal(put?.url.origin, proxy.url, body);
    }
  });
});

describe('the transport', () => {
  test('a request made for one registry sends none of another’s credentials to a URL on it', async () => {
    const google = await googleHost();
    const third = await server(() => false);
    const http = new RegistryHttp({
      allowedHosts: [google.host, third.host],
      authorization: async (host) => (host === google.host ? GOOGLE_TOKEN : THIRD_TOKEN),
    });
    const res = await http.request({
      method: 'GET',
      url: new URL(`${google.url}${PRIVATE_LISTING}`),
      origin: third.url,
      maxBytes: 1024 * 1024,
      details: {},
    });
    assert.equal(res.status, 200);
    assert.deepEqual(
      google.requests.map((r) => r.headers['authorization']),
      [undefined],
    );
  });
});
