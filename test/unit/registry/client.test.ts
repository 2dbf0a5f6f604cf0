import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DependencyError, PolicyViolationError } from '../../../functions/errors.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { sha256Digest } from '../../../functions/registry/digest.ts';
import { RegistryIntegrityError, RegistryNotFoundError } from '../../../functions/registry/errors.ts';
import { registryBaseUrl } from '../../../functions/registry/http.ts';
import { imageIndexSchema, parseManifestBytes } from '../../../functions/registry/manifest.ts';
import { OCI_INDEX, OCI_MANIFEST } from '../../../functions/registry/media-types.ts';
import {
  type PushedIndex,
  type PushedManifest,
  startProxy,
  startRegistry,
  type TestProxy,
  type TestRegistry,
} from '../../helpers/registry.ts';

let registry: TestRegistry;
let client: RegistryClient;
let image: PushedManifest;
let index: PushedIndex;
const proxies: TestProxy[] = [];

before(async () => {
  registry = await startRegistry();
  client = new RegistryClient({ allowedHosts: [registry.host] });
  image = await registry.pushImage('team/app', 'v1');
  index = await registry.pushIndex('team/multi', 'v1');
});

after(async () => {
  for (const proxy of proxies) await proxy.stop();
  await registry?.stop();
});

async function proxy(...args: Parameters<typeof startProxy>): Promise<TestProxy> {
  const started = await startProxy(...args);
  proxies.push(started);
  return started;
}

function repoOf(host: string, repository: string) {
  return { host, repository };
}

describe('resolve', () => {
  test('a tag resolves to the pushed digest, media type and size', async () => {
    const d = await client.resolve({ host: registry.host, repository: 'team/app', tag: 'v1' });
    assert.deepEqual(d, { mediaType: OCI_MANIFEST, digest: image.digest, size: image.size });
  });

  test('a digest resolves to itself', async () => {
    const d = await client.resolve({ host: registry.host, repository: 'team/app', digest: image.digest });
    assert.equal(d.digest, image.digest);
  });

  test('a multi-arch index resolves, and so does each platform manifest', async () => {
    const d = await client.resolve({ host: registry.host, repository: 'team/multi', tag: 'v1' });
    assert.deepEqual(d, { mediaType: OCI_INDEX, digest: index.digest, size: index.size });
    const fetched = await client.getManifest(repoOf(registry.host, 'team/multi'), d.digest);
    const parsed = parseManifestBytes(imageIndexSchema, fetched.bytes, {});
    assert.deepEqual(
      parsed.manifests.map((m) => m.digest),
      index.platforms.map((p) => p.digest),
    );
    for (const platform of index.platforms) {
      const p = await client.resolve({
        host: registry.host,
        repository: 'team/multi',
        digest: platform.digest,
      });
      assert.equal(p.mediaType, OCI_MANIFEST);
    }
  });

  test('an unknown tag or digest is a typed not-found naming the reference', async () => {
    await assert.rejects(
      client.resolve({ host: registry.host, repository: 'team/app', tag: 'nope' }),
      (err) => {
        assert.ok(err instanceof RegistryNotFoundError);
        assert.equal(err.retryable, false);
        assert.equal(err.details['reference'], `${registry.host}/team/app:nope`);
        return true;
      },
    );
    const missing = sha256Digest(Buffer.from('missing'));
    await assert.rejects(
      client.resolve({ host: registry.host, repository: 'team/app', digest: missing }),
      RegistryNotFoundError,
    );
  });

  test('a host outside the allowlist is refused before any request', async () => {
    const seen = await proxy(registry.url);
    await assert.rejects(
      client.resolve({ host: seen.host, repository: 'team/app', tag: 'v1' }),
      PolicyViolationError,
    );
    assert.equal(seen.requests.length, 0);
  });
});

describe('manifests and blobs', () => {
  const repo = () => repoOf(registry.host, 'team/blobs');

  test('a blob is uploaded once, found, and read back verified', async () => {
    const bytes = Buffer.from('a blob for the blob test');
    const d = await client.putBlob(repo(), bytes, 'application/octet-stream');
    assert.equal(d.digest, sha256Digest(bytes));
    assert.equal(await client.hasBlob(repo(), d.digest), true);
    assert.deepEqual(await client.putBlob(repo(), bytes, 'application/octet-stream'), d);
    assert.deepEqual(Buffer.from(await client.getBlob(repo(), d.digest)), bytes);
    const missing = sha256Digest(Buffer.from('never uploaded'));
    assert.equal(await client.hasBlob(repo(), missing), false);
    await assert.rejects(client.getBlob(repo(), missing), RegistryNotFoundError);
  });

  test('a blob HEAD answered 200 naming other content is not the blob (a cache answering for what it no longer holds)', async () => {
    const bytes = Buffer.from('a blob a cache answers for');
    const d = await client.putBlob(repo(), bytes, 'application/octet-stream');
    const other = sha256Digest(Buffer.from('other content'));
    const lying = await proxy(registry.url, async (req, res) => {
      if (req.method !== 'HEAD' || !req.url.pathname.includes('/blobs/')) return false;
      const named = req.url.pathname.endsWith(d.digest) ? other : req.url.pathname.split('/').at(-1)!;
      res.writeHead(200, { 'docker-content-digest': named, 'content-length': '26' }).end();
      return true;
    });
    const viaProxy = new RegistryClient({ allowedHosts: [lying.host] });
    const through = repoOf(lying.host, 'team/blobs');
    assert.equal(await viaProxy.hasBlob(through, d.digest), false, 'named another digest');
    // The header naming the blob asked for, or no header at all (a HEAD proves no bytes), is the blob.
    assert.equal(await viaProxy.hasBlob(through, other), true);
    assert.equal(await client.hasBlob(repo(), d.digest), true);
  });

  test('a manifest is pushed by tag and by digest; tag deletion is unsupported on 2.8, digest deletion works', async () => {
    const config = await client.putBlob(repo(), Buffer.from('{}'), 'application/vnd.oci.empty.v1+json');
    const bytes = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [] }),
    );
    const byTag = await client.putManifest(repo(), 'm1', bytes, OCI_MANIFEST);
    assert.equal(byTag.descriptor.digest, sha256Digest(bytes));
    assert.equal(byTag.subjectDigest, undefined);
    const byDigest = await client.putManifest(repo(), byTag.descriptor.digest, bytes, OCI_MANIFEST);
    assert.deepEqual(byDigest.descriptor, byTag.descriptor);
    const fetched = await client.getManifest(repo(), 'm1');
    assert.deepEqual(Buffer.from(fetched.bytes), bytes);
    assert.deepEqual(fetched.descriptor, byTag.descriptor);

    assert.equal(await client.deleteManifest(repo(), 'm1'), false);
    assert.equal(await client.deleteManifest(repo(), byTag.descriptor.digest), true);
    await assert.rejects(client.getManifest(repo(), byTag.descriptor.digest), RegistryNotFoundError);
  });

  test('docker-registry 2.8 has no referrers API: referrers() says so with undefined', async () => {
    assert.equal(await client.referrers(repoOf(registry.host, 'team/app'), image.digest), undefined);
  });
});

describe('listing', () => {
  test('the catalog follows Link pagination to the end', async () => {
    await registry.pushImage('list/a', 't');
    await registry.pushImage('list/b', 't');
    const all = await client.catalog(registry.host, { pageSize: 1 });
    for (const name of ['list/a', 'list/b', 'team/app', 'team/multi']) assert.ok(all.includes(name), name);
    assert.equal(new Set(all).size, all.length);
  });

  test('tags follow Link pagination (served paged by a proxy: 2.8 ignores n for tags)', async () => {
    for (const tag of ['t1', 't2', 't3', 't4', 't5']) await registry.pushImage('list/tags', tag, 'same');
    const all = (await client.listTags(repoOf(registry.host, 'list/tags'))).sort();
    const paged = await proxy(registry.url, async (req, res) => {
      if (!req.url.pathname.endsWith('/tags/list')) return false;
      const n = Number(req.url.searchParams.get('n') ?? '100');
      const last = req.url.searchParams.get('last');
      const rest = all.filter((t) => last === null || t > last);
      const page = rest.slice(0, n);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (rest.length > n)
        headers['link'] = `</v2/list/tags/tags/list?n=${n}&last=${page.at(-1)}>; rel="next"`;
      res.writeHead(200, headers).end(JSON.stringify({ name: 'list/tags', tags: page }));
      return true;
    });
    const viaProxy = new RegistryClient({ allowedHosts: [paged.host] });
    const tags = await viaProxy.listTags(repoOf(paged.host, 'list/tags'), { pageSize: 2 });
    assert.deepEqual(tags, ['t1', 't2', 't3', 't4', 't5']);
    assert.equal(paged.requests.length, 3);
  });

  test('a Link that loops back is refused instead of listed forever', async () => {
    const looping = await proxy(undefined, (req, res) => {
      res
        .writeHead(200, { 'content-type': 'application/json', link: `<${req.url.pathname}?n=1>; rel="next"` })
        .end(JSON.stringify({ tags: ['x'] }));
      return true;
    });
    const c = new RegistryClient({ allowedHosts: [looping.host] });
    await assert.rejects(c.listTags(repoOf(looping.host, 'r'), { pageSize: 1 }), RegistryIntegrityError);
  });
});

describe('a misbehaving registry', () => {
  test('manifest bytes that do not hash to the digest are refused (by digest and by tag)', async () => {
    const tampering = await proxy(registry.url, async (req, res) => {
      if (req.method !== 'GET' || !req.url.pathname.includes('/manifests/')) return false;
      const upstream = await fetch(new URL(req.url.pathname, registry.url), {
        headers: { accept: String(req.headers['accept']) },
      });
      const body = Buffer.from(await upstream.arrayBuffer());
      res
        .writeHead(200, {
          'content-type': upstream.headers.get('content-type') ?? '',
          'docker-content-digest': upstream.headers.get('docker-content-digest') ?? '',
        })
        .end(Buffer.concat([body, Buffer.from(' ')]));
      return true;
    });
    const c = new RegistryClient({ allowedHosts: [tampering.host] });
    const repo = repoOf(tampering.host, 'team/app');
    await assert.rejects(c.getManifest(repo, image.digest), (err) => {
      assert.ok(err instanceof RegistryIntegrityError);
      assert.equal(err.details['digest'], image.digest);
      return true;
    });
    await assert.rejects(c.getManifest(repo, 'v1'), RegistryIntegrityError);
  });

  test('a tampered blob is refused', async () => {
    const bytes = Buffer.from('blob that will be tampered');
    const d = await client.putBlob(repoOf(registry.host, 'team/app'), bytes, 'application/octet-stream');
    const tampering = await proxy(registry.url, (req, res) => {
      if (!req.url.pathname.includes('/blobs/sha256:')) return false;
      res.writeHead(200).end('something else');
      return true;
    });
    const c = new RegistryClient({ allowedHosts: [tampering.host] });
    await assert.rejects(c.getBlob(repoOf(tampering.host, 'team/app'), d.digest), RegistryIntegrityError);
  });

  test('a manifest over 4 MiB is refused, with or without Content-Length', async () => {
    const huge = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const sized = await proxy(undefined, (_req, res) => {
      res.writeHead(200, { 'content-type': OCI_MANIFEST, 'content-length': String(huge.length) }).end(huge);
      return true;
    });
    const chunked = await proxy(undefined, (_req, res) => {
      res.writeHead(200, { 'content-type': OCI_MANIFEST });
      for (let i = 0; i < huge.length; i += 65536) res.write(huge.subarray(i, i + 65536));
      res.end();
      return true;
    });
    for (const p of [sized, chunked]) {
      const c = new RegistryClient({ allowedHosts: [p.host] });
      await assert.rejects(c.getManifest(repoOf(p.host, 'team/app'), 'v1'), (err) => {
        assert.ok(err instanceof RegistryIntegrityError);
        assert.match(err.message, /larger than 4194304/);
        return true;
      });
    }
  });

  test('a redirect to a host outside the allowlist is refused and the foreign host never contacted', async () => {
    const foreign = await proxy(registry.url);
    const redirecting = await proxy(registry.url, (req, res) => {
      if (!req.url.pathname.includes('/blobs/sha256:')) return false;
      res.writeHead(307, { location: `${foreign.url}${req.url.pathname}` }).end();
      return true;
    });
    const c = new RegistryClient({ allowedHosts: [redirecting.host] });
    await assert.rejects(c.getBlob(repoOf(redirecting.host, 'team/app'), image.digest), (err) => {
      assert.ok(err instanceof PolicyViolationError);
      assert.equal(err.details['host'], foreign.host);
      return true;
    });
    assert.equal(foreign.requests.length, 0);
  });

  test('a redirect to an allowed storage host is followed, without the registry credentials', async () => {
    const storage = await proxy(registry.url);
    const redirecting = await proxy(registry.url, (req, res) => {
      if (!req.url.pathname.includes('/blobs/sha256:') || req.method !== 'GET') return false;
      res.writeHead(307, { location: `${storage.url}${req.url.pathname}` }).end();
      return true;
    });
    const c = new RegistryClient({
      allowedHosts: [redirecting.host],
      redirectHosts: [storage.host],
      authorization: async () => 'Bearer registry-only',
    });
    const config = JSON.parse(
      Buffer.from((await client.getManifest(repoOf(registry.host, 'team/app'), 'v1')).bytes).toString(),
    );
    const blob = await c.getBlob(repoOf(redirecting.host, 'team/app'), config.config.digest);
    assert.equal(sha256Digest(blob), config.config.digest);
    assert.equal(redirecting.requests.at(-1)?.headers['authorization'], 'Bearer registry-only');
    assert.equal(storage.requests.length, 1);
    assert.equal(storage.requests[0]?.headers['authorization'], undefined);
  });

  test('https is required off loopback, even as a redirect target', async () => {
    assert.equal(registryBaseUrl('us-docker.pkg.dev').protocol, 'https:');
    assert.equal(registryBaseUrl('127.0.0.1:5000').protocol, 'http:');
    const downgrading = await proxy(undefined, (_req, res) => {
      res.writeHead(302, { location: 'http://storage.example.com/blob' }).end();
      return true;
    });
    const c = new RegistryClient({
      allowedHosts: [downgrading.host],
      redirectHosts: ['storage.example.com'],
    });
    await assert.rejects(c.getBlob(repoOf(downgrading.host, 'r'), image.digest), (err) => {
      assert.ok(err instanceof PolicyViolationError);
      assert.match(err.message, /https is required/);
      return true;
    });
  });

  test('5xx is a retryable DependencyError naming the reference', async () => {
    const failing = await proxy(undefined, (_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAVAILABLE"}]}');
      return true;
    });
    const c = new RegistryClient({ allowedHosts: [failing.host] });
    await assert.rejects(
      c.resolve({ host: failing.host, repository: 'team/app', digest: image.digest }),
      (err) => {
        assert.ok(err instanceof DependencyError);
        assert.equal(err.retryable, true);
        assert.equal(err.details['status'], 503);
        assert.equal(err.details['reference'], `${failing.host}/team/app@${image.digest}`);
        return true;
      },
    );
  });

  test('a registry that never answers ends in a retryable timeout', async () => {
    const hanging = await proxy(undefined, () => true);
    const c = new RegistryClient({ allowedHosts: [hanging.host], timeoutMs: 200 });
    await assert.rejects(c.resolve({ host: hanging.host, repository: 'team/app', tag: 'v1' }), (err) => {
      assert.ok(err instanceof DependencyError);
      assert.equal(err.retryable, true);
      assert.match(err.message, /timed out/);
      return true;
    });
  });

  test('a network failure is a retryable DependencyError', async () => {
    const gone = await proxy(undefined);
    await gone.stop();
    const c = new RegistryClient({ allowedHosts: [gone.host] });
    await assert.rejects(c.resolve({ host: gone.host, repository: 'team/app', tag: 'v1' }), (err) => {
      assert.ok(err instanceof DependencyError);
      return err.retryable;
    });
  });
});
