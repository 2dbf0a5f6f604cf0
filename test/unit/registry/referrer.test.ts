import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InProcessSubjectLock } from '../../../functions/attach/lock.ts';
import {
  ANNOTATION_BUNDLE_CONTENT,
  ANNOTATION_CREATED,
  ANNOTATION_PREDICATE_TYPE,
  attachBundleReferrer,
  listBundleReferrers,
  readBundleReferrer,
  SIGSTORE_BUNDLE_V03,
} from '../../../functions/attach/referrer.ts';
import { PolicyViolationError } from '../../../functions/errors.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { digestTag, sha256Digest } from '../../../functions/registry/digest.ts';
import { RegistryIntegrityError, RegistryNotFoundError } from '../../../functions/registry/errors.ts';
import {
  type Descriptor,
  imageIndexSchema,
  imageManifestSchema,
  parseManifestBytes,
} from '../../../functions/registry/manifest.ts';
import {
  OCI_EMPTY,
  OCI_EMPTY_DIGEST,
  OCI_INDEX,
  OCI_MANIFEST,
} from '../../../functions/registry/media-types.ts';
import type { DigestReference } from '../../../functions/registry/reference.ts';
import { lapsedLock } from '../../helpers/lapsed-lock.ts';
import { startProxy, startRegistry, type TestProxy, type TestRegistry } from '../../helpers/registry.ts';
import { unsignedBundleFor as bundleFor } from '../../helpers/unsigned-bundle.ts';

const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';

let registry: TestRegistry;
let client: RegistryClient;
const proxies: TestProxy[] = [];

before(async () => {
  registry = await startRegistry();
  client = new RegistryClient({ allowedHosts: [registry.host] });
});
after(async () => {
  for (const p of proxies) await p.stop();
  await registry?.stop();
});

async function pushed(repository: string): Promise<DigestReference> {
  const image = await registry.pushImage(repository, 'v1');
  return { host: registry.host, repository, digest: image.digest };
}

describe('bundle referrers on docker-registry 2.8 (tag-schema fallback)', () => {
  test('the referrer manifest has the cosign 3 shape and is listed in the sha256-<hex> index', async () => {
    const image = await pushed('ref/one');
    const subject = await client.resolve(image);
    const bundle = bundleFor(image, 'one');
    const created = new Date('2026-05-01T12:34:56.789Z');
    const result = await attachBundleReferrer(
      { registry: client, lock: new InProcessSubjectLock() },
      image,
      bundle,
      {
        created,
      },
    );
    assert.equal(result.via, 'tag-schema');
    assert.equal(result.fallbackTag, digestTag(image.digest));
    assert.equal(result.attached, true);

    const manifest = parseManifestBytes(
      imageManifestSchema,
      (await client.getManifest(image, result.manifest.digest)).bytes,
      {},
    );
    assert.equal(manifest.mediaType, OCI_MANIFEST);
    assert.equal(manifest.artifactType, SIGSTORE_BUNDLE_V03);
    assert.deepEqual(manifest.config, { mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2 });
    assert.deepEqual(manifest.layers, [
      { mediaType: SIGSTORE_BUNDLE_V03, digest: sha256Digest(bundle), size: bundle.length },
    ]);
    assert.deepEqual(manifest.subject, subject);
    assert.deepEqual(manifest.annotations, {
      [ANNOTATION_CREATED]: '2026-05-01T12:34:56Z',
      [ANNOTATION_BUNDLE_CONTENT]: 'dsse-envelope',
      [ANNOTATION_PREDICATE_TYPE]: COSIGN_SIGN_PREDICATE,
    });

    const indexBytes = await client.getManifest(image, digestTag(image.digest));
    assert.equal(indexBytes.descriptor.mediaType, OCI_INDEX);
    const index = parseManifestBytes(imageIndexSchema, indexBytes.bytes, {});
    assert.deepEqual(index.manifests, [result.manifest]);
    assert.equal(result.manifest.artifactType, SIGSTORE_BUNDLE_V03);
    assert.deepEqual(result.manifest.annotations, manifest.annotations);

    const listed = await listBundleReferrers(client, image);
    assert.equal(listed.via, 'tag-schema');
    assert.deepEqual(listed.descriptors, [result.manifest]);
    const read = await readBundleReferrer(client, image, result.manifest);
    assert.deepEqual(Buffer.from(read.bundle), bundle);
  });

  test('attaching the same bundle again is a no-op; a different bundle is appended', async () => {
    const image = await pushed('ref/idempotent');
    const deps = { registry: client, lock: new InProcessSubjectLock() };
    const first = await attachBundleReferrer(deps, image, bundleFor(image, 'a'), { created: new Date(1000) });
    const again = await attachBundleReferrer(deps, image, bundleFor(image, 'a'), {
      created: new Date(99_000),
    });
    assert.equal(again.attached, false);
    assert.equal(again.manifest.digest, first.manifest.digest);
    const second = await attachBundleReferrer(deps, image, bundleFor(image, 'b'));
    const listed = await listBundleReferrers(client, image);
    assert.deepEqual(
      listed.descriptors.map((d) => d.digest),
      [first.manifest.digest, second.manifest.digest],
    );
  });

  test('a holder whose hold fails its check (its lease lapsed) does not replace the fallback index', async () => {
    const image = await pushed('ref/lapsed');
    const first = await attachBundleReferrer(
      { registry: client, lock: new InProcessSubjectLock() },
      image,
      bundleFor(image, 'first'),
    );
    const { lock, error: lapsed } = lapsedLock(`${image.host}/${image.repository}@${image.digest}`);
    await assert.rejects(
      attachBundleReferrer({ registry: client, lock }, image, bundleFor(image, 'second')),
      (err: unknown) => err === lapsed,
    );
    const listed = await listBundleReferrers(client, image);
    assert.deepEqual(
      listed.descriptors.map((d) => d.digest),
      [first.manifest.digest],
    );
  });

  test('a listed referrer someone deleted without updating the index is dropped from it, and the new one attached', async () => {
    const image = await pushed('ref/stale-entry');
    const deps = { registry: client, lock: new InProcessSubjectLock() };
    const first = await attachBundleReferrer(deps, image, bundleFor(image, 'deleted later'));
    // As `crane delete` or a retention policy would: the manifest goes, the index still lists it.
    assert.equal(await client.deleteManifest(image, first.manifest.digest), true);
    const second = await attachBundleReferrer(deps, image, bundleFor(image, 'after the delete'));
    assert.equal(second.attached, true);
    const listed = await listBundleReferrers(client, image);
    assert.deepEqual(
      listed.descriptors.map((d) => d.digest),
      [second.manifest.digest],
    );
  });

  test('10 parallel attachers: the fallback index keeps all 10', async () => {
    const image = await pushed('ref/parallel');
    const lock = new InProcessSubjectLock();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        attachBundleReferrer(
          { registry: new RegistryClient({ allowedHosts: [registry.host] }), lock },
          image,
          bundleFor(image, `n${i}`),
        ),
      ),
    );
    const listed = await listBundleReferrers(client, image);
    assert.deepEqual(
      new Set(listed.descriptors.map((d) => d.digest)),
      new Set(results.map((r) => r.manifest.digest)),
    );
    assert.equal(listed.descriptors.length, 10);
  });

  test('a bundle whose statement names another image is refused before anything is written', async () => {
    const image = await pushed('ref/refused');
    const bundle = bundleFor(image, 'x', `sha256:${'00'.repeat(32)}`);
    await assert.rejects(
      attachBundleReferrer({ registry: client, lock: new InProcessSubjectLock() }, image, bundle),
      PolicyViolationError,
    );
    await assert.rejects(client.getManifest(image, digestTag(image.digest)), RegistryNotFoundError);
  });

  test('a listed referrer whose manifest has another subject is not read as a bundle of the image', async () => {
    // Anyone who can push can edit the fallback index: an entry may point at another image's referrer.
    const image = await pushed('ref/forged');
    const other = {
      host: registry.host,
      repository: 'ref/forged',
      digest: (await registry.pushImage('ref/forged', 'v2')).digest,
    };
    const genuine = await attachBundleReferrer(
      { registry: client, lock: new InProcessSubjectLock() },
      other,
      bundleFor(other, 'other'),
    );
    await assert.rejects(readBundleReferrer(client, image, genuine.manifest), (err: unknown) => {
      assert.ok(err instanceof RegistryIntegrityError);
      assert.equal(err.details['subject'], other.digest);
      return true;
    });
    assert.ok(await readBundleReferrer(client, other, genuine.manifest));
  });
});

describe('bundle referrers on a registry with the referrers API', () => {
  test('no fallback index is written, and listing goes through the API', async () => {
    const image = await pushed('ref/api');
    const indexed = new Map<string, Descriptor[]>();
    const api = await startProxy(registry.url, async (req, res) => {
      const referrers = /^\/v2\/.+\/referrers\/(sha256:[a-f0-9]{64})$/.exec(req.url.pathname);
      if (referrers !== null && req.method === 'GET') {
        const body = {
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          manifests: indexed.get(referrers[1] ?? '') ?? [],
        };
        res.writeHead(200, { 'content-type': OCI_INDEX }).end(JSON.stringify(body));
        return true;
      }
      if (req.method !== 'PUT' || !req.url.pathname.includes('/manifests/')) return false;
      const upstream = await fetch(new URL(req.url.pathname, registry.url), {
        method: 'PUT',
        headers: { 'content-type': String(req.headers['content-type']) },
        body: req.body,
      });
      const headers: Record<string, string> = {
        'docker-content-digest': upstream.headers.get('docker-content-digest') ?? '',
      };
      const manifest = JSON.parse(req.body.toString());
      if (upstream.status === 201 && manifest.subject !== undefined) {
        headers['oci-subject'] = manifest.subject.digest;
        const list = indexed.get(manifest.subject.digest) ?? [];
        list.push({
          mediaType: manifest.mediaType,
          digest: sha256Digest(req.body),
          size: req.body.length,
          artifactType: manifest.artifactType,
          annotations: manifest.annotations,
        });
        indexed.set(manifest.subject.digest, list);
      }
      res.writeHead(upstream.status, headers).end(await upstream.text());
      return true;
    });
    proxies.push(api);
    const viaApi = new RegistryClient({ allowedHosts: [api.host] });
    const ref = { ...image, host: api.host };

    const result = await attachBundleReferrer(
      { registry: viaApi, lock: new InProcessSubjectLock() },
      ref,
      bundleFor(image, 'api'),
    );
    assert.equal(result.via, 'referrers-api');
    assert.equal(result.fallbackTag, undefined);
    await assert.rejects(client.getManifest(image, digestTag(image.digest)), RegistryNotFoundError);

    const listed = await listBundleReferrers(viaApi, ref);
    assert.equal(listed.via, 'referrers-api');
    assert.deepEqual(
      listed.descriptors.map((d) => d.digest),
      [result.manifest.digest],
    );
    const again = await attachBundleReferrer(
      { registry: viaApi, lock: new InProcessSubjectLock() },
      ref,
      bundleFor(image, 'api'),
    );
    assert.equal(again.attached, false);
  });
});
