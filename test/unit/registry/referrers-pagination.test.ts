/**
 * The referrers API pages with `Link: rel="next"` like tag listings do, and reverify reads it from
 * third-party registries: a hostile one chooses the pages. These serve them from a loopback server
 * (docker-registry 2.8 has no referrers API) and check the walk ends, bounded, with an error naming
 * the digest and repository.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, describe, test } from 'node:test';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { sha256Digest } from '../../../functions/registry/digest.ts';
import { RegistryIntegrityError } from '../../../functions/registry/errors.ts';
import { OCI_INDEX, OCI_MANIFEST } from '../../../functions/registry/media-types.ts';
import { type ProxiedRequest, startProxy, type TestProxy } from '../../helpers/registry.ts';

const SUBJECT = sha256Digest(Buffer.from('the subject image'));
const REPOSITORY = 'team/app';
/** Pages a fixed registry would stop at: enough that an unbounded walk shows, few enough to stay fast. */
const FINITE_PAGES = 50;

const proxies: TestProxy[] = [];
after(async () => {
  for (const p of proxies) await p.stop();
});

/** A referrers endpoint: `page(n)` answers the nth request (from 0) with descriptors and a next link. */
async function referrersServer(
  page: (n: number, req: ProxiedRequest) => { descriptors: object[]; next?: string },
): Promise<{ server: TestProxy; client: RegistryClient }> {
  let n = 0;
  const server = await startProxy(undefined, (req, res: ServerResponse) => {
    const { descriptors, next } = page(n++, req);
    const headers: Record<string, string> = { 'content-type': OCI_INDEX };
    if (next !== undefined) headers['link'] = `<${next}>; rel="next"`;
    res
      .writeHead(200, headers)
      .end(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: descriptors }));
    return true;
  });
  proxies.push(server);
  return { server, client: new RegistryClient({ allowedHosts: [server.host] }) };
}

function referrer(i: number, annotation = ''): object {
  return {
    mediaType: OCI_MANIFEST,
    digest: sha256Digest(Buffer.from(`referrer ${i}`)),
    size: 1,
    artifactType: 'application/example',
    ...(annotation === '' ? {} : { annotations: { note: annotation } }),
  };
}

/** Asserts a RegistryIntegrityError naming the subject digest and repository, matching `message`. */
function integrityErrorFor(host: string, message: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof RegistryIntegrityError, String(err));
    assert.match(err.message, message);
    assert.equal(err.details['digest'], SUBJECT);
    assert.equal(err.details['repository'], `${host}/${REPOSITORY}`);
    return true;
  };
}

describe('referrers pagination', () => {
  test('pages are followed to the end and their descriptors joined', async () => {
    const { server, client } = await referrersServer((n, req) => ({
      descriptors: [referrer(n)],
      ...(n < 2 ? { next: `${req.url.pathname}?page=${n + 1}` } : {}),
    }));
    const found = await client.referrers({ host: server.host, repository: REPOSITORY }, SUBJECT);
    assert.equal(found?.length, 3);
    assert.equal(server.requests.length, 3);
  });

  test('a Link back to a page already read ends the walk at once, not after 10 000 pages', async () => {
    const { server, client } = await referrersServer((n, req) => ({
      descriptors: [referrer(n)],
      ...(n < FINITE_PAGES ? { next: req.url.pathname } : {}),
    }));
    await assert.rejects(
      client.referrers({ host: server.host, repository: REPOSITORY }, SUBJECT),
      integrityErrorFor(server.host, /loops back to a page already read/),
    );
    assert.equal(server.requests.length, 1);
  });

  test('pages that are all new but hold large descriptors end at the byte bound', async () => {
    // 1 MiB per page: the old walk kept all FINITE_PAGES of them (50 MiB in a 256 MiB function).
    const fat = 'x'.repeat(1024 * 1024);
    const { server, client } = await referrersServer((n, req) => ({
      descriptors: [referrer(n, fat)],
      ...(n < FINITE_PAGES ? { next: `${req.url.pathname}?page=${n + 1}` } : {}),
    }));
    await assert.rejects(
      client.referrers({ host: server.host, repository: REPOSITORY }, SUBJECT),
      integrityErrorFor(server.host, /bytes over all pages/),
    );
    assert.ok(server.requests.length <= 17, `${server.requests.length} pages read`);
  });

  test('pages that are all new but hold many descriptors end at the entry bound', async () => {
    const perPage = 4000;
    const { server, client } = await referrersServer((n, req) => ({
      descriptors: Array.from({ length: perPage }, (_, i) => referrer(n * perPage + i)),
      ...(n < 3 ? { next: `${req.url.pathname}?page=${n + 1}` } : {}),
    }));
    await assert.rejects(
      client.referrers({ host: server.host, repository: REPOSITORY }, SUBJECT),
      integrityErrorFor(server.host, /more than 10000 entries/),
    );
  });
});
