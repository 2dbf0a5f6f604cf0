/**
 * A runnable image or index may sit under a digest-shaped tag (`sha256-<A>`, `sha256-<A>.sig`): a
 * pipeline that tags by digest puts it there, and signOnPush signs it like any other push (README).
 * When image A is signed later, its attach must not take that content for A's `.sig` manifest or
 * referrers fallback index: nothing is appended to it, its config is not replaced, and its tag is not
 * moved. The format is refused for A with a ForeignTagContentError (a PolicyViolationError, alerted,
 * never retried) that names the tag and A. A's other format still attaches. Genuine `.sig` manifests
 * and fallback indexes of other writers are still merged into. Against a real docker-registry 2.8,
 * which has no referrers API, so bundles go through the tag-schema fallback index.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  attachCosignSignature,
  readCosignSignatures,
  SIGNATURE_ANNOTATION,
  signatureTag,
} from '../../../functions/attach/cosign-layout.ts';
import { ForeignTagContentError } from '../../../functions/attach/foreign-tag.ts';
import { InProcessSubjectLock } from '../../../functions/attach/lock.ts';
import {
  attachBundleReferrer,
  listBundleReferrers,
  SIGSTORE_BUNDLE_V03,
} from '../../../functions/attach/referrer.ts';
import {
  buildSimpleSigningPayload,
  SIMPLE_SIGNING_MEDIA_TYPE,
} from '../../../functions/attach/simple-signing.ts';
import { PolicyViolationError } from '../../../functions/errors.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { digestTag, sha256Digest } from '../../../functions/registry/digest.ts';
import type { Descriptor } from '../../../functions/registry/manifest.ts';
import {
  DOCKER_MANIFEST,
  OCI_CONFIG,
  OCI_EMPTY,
  OCI_INDEX,
  OCI_MANIFEST,
} from '../../../functions/registry/media-types.ts';
import type { DigestReference } from '../../../functions/registry/reference.ts';
import type { Registry } from '../../../functions/registry/registry.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { gcrEvent, signOnPushCore } from '../../helpers/sign-on-push-core.ts';
import { unsignedBundleFor } from '../../helpers/unsigned-bundle.ts';

const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
const TAR_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const SPDX_JSON = 'application/spdx+json';

let reg: TestRegistry;
let client: RegistryClient;
before(async () => {
  reg = await startRegistry();
  client = new RegistryClient({ allowedHosts: [reg.host] });
});
after(() => reg.stop());

let repositories = 0;
/** A repository of its own for each test, under the watched `team/`. */
const freshRepository = () => `team/foreign-${repositories++}`;

async function imageIn(repository: string, seed = 'signed'): Promise<DigestReference> {
  const pushed = await reg.pushImage(repository, 'v1', `${repository}:${seed}`);
  return { host: reg.host, repository, digest: pushed.digest };
}

/** The client with every manifest PUT counted: "nothing written" is no PUT at all. */
function counting(): { registry: Registry; puts: string[] } {
  const puts: string[] = [];
  const registry = new Proxy(client, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      if (property !== 'putManifest') return value.bind(target);
      return (...args: Parameters<Registry['putManifest']>) => {
        puts.push(args[1]);
        return target.putManifest(...args);
      };
    },
  }) as Registry;
  return { registry, puts };
}

/** What a tag names now: its digest and bytes. */
async function underTag(image: DigestReference, tag: string) {
  const fetched = await client.getManifest(image, tag);
  return { digest: fetched.descriptor.digest, bytes: Buffer.from(fetched.bytes) };
}

function ours(image: DigestReference) {
  const payload = buildSimpleSigningPayload(image);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { payload, signature: sign('sha256', payload, privateKey).toString('base64') };
}

/** A refusal of `format` for `image` because of what `tag` holds. */
function foreign(image: DigestReference, tag: string, format: 'cosign' | 'bundle', held?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof ForeignTagContentError, String(err));
    assert.ok(err instanceof PolicyViolationError);
    assert.equal(err.retryable, false);
    const tagRef = `${image.host}/${image.repository}:${tag}`;
    assert.ok(err.message.includes(tagRef), err.message);
    assert.ok(err.message.includes(image.digest), err.message);
    assert.equal(err.details['tag'], tagRef);
    assert.equal(err.details['image'], `${image.host}/${image.repository}@${image.digest}`);
    assert.equal(err.details['format'], format);
    if (held) assert.match(err.message, held);
    return true;
  };
}

/**
 * Another signer's `.sig` for `image`, written as cosign writes it: an empty image's config and one
 * simple-signing layer carrying its signature (Docker media types with COSIGN_DOCKER_MEDIA_TYPES).
 */
async function otherSignersSig(image: DigestReference, docker = false): Promise<string> {
  const { payload, signature } = ours(image);
  const layer = await client.putBlob(image, payload, SIMPLE_SIGNING_MEDIA_TYPE);
  const config = Buffer.from(
    JSON.stringify({
      architecture: '',
      created: '0001-01-01T00:00:00Z',
      history: [{ created: '0001-01-01T00:00:00Z' }],
      os: '',
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
      config: {},
    }),
  );
  const configType = docker ? DOCKER_CONFIG : OCI_CONFIG;
  const mediaType = docker ? DOCKER_MANIFEST : OCI_MANIFEST;
  const manifest = {
    schemaVersion: 2,
    mediaType,
    config: await client.putBlob(image, config, configType),
    layers: [
      { ...layer, mediaType: SIMPLE_SIGNING_MEDIA_TYPE, annotations: { [SIGNATURE_ANNOTATION]: signature } },
    ],
  };
  const put = await client.putManifest(
    image,
    signatureTag(image.digest),
    Buffer.from(JSON.stringify(manifest)),
    mediaType,
  );
  return put.descriptor.digest;
}

/** An OCI 1.1 artifact about `image` (the empty config, one layer), pushed by digest; its index entry. */
async function referrerOf(
  image: DigestReference,
  artifactType: string,
  content: Buffer,
): Promise<Descriptor> {
  const layer = await client.putBlob(image, content, artifactType);
  const config = await client.putBlob(image, Buffer.from('{}'), OCI_EMPTY);
  const subject = await client.resolve(image);
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType,
      config,
      layers: [{ ...layer, mediaType: artifactType }],
      subject,
    }),
  );
  const put = await client.putManifest(image, sha256Digest(bytes), bytes, OCI_MANIFEST);
  return { ...put.descriptor, artifactType };
}

/**
 * The fallback index another writer (cosign 3, ORAS) keeps for `image`: a bundle referrer and an
 * SPDX SBOM, each listed with its artifactType and no platform. Returns its digest.
 */
async function otherWritersIndex(image: DigestReference): Promise<{ digest: string; entries: Descriptor[] }> {
  const entries = [
    await referrerOf(image, SIGSTORE_BUNDLE_V03, unsignedBundleFor(image, 'another signer')),
    await referrerOf(image, SPDX_JSON, Buffer.from('{"spdxVersion":"SPDX-2.3"}')),
  ];
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries }));
  const put = await client.putManifest(image, digestTag(image.digest), bytes, OCI_INDEX);
  return { digest: put.descriptor.digest, entries };
}

/** Puts `manifest` (JSON) under `tag`; its digest. */
async function putUnder(image: DigestReference, tag: string, manifest: object, mediaType: string) {
  return (await client.putManifest(image, tag, Buffer.from(JSON.stringify(manifest)), mediaType)).descriptor
    .digest;
}

describe('the cosign attach and what sha256-<A>.sig holds', () => {
  test('a runnable image there is left byte for byte, its tag unmoved, and the attach refused', async () => {
    const repository = freshRepository();
    const image = await imageIn(repository);
    const tag = signatureTag(image.digest);
    const user = await reg.pushImage(repository, tag, 'runnable under the .sig tag');
    const { registry, puts } = counting();
    await assert.rejects(
      attachCosignSignature({ registry, lock: new InProcessSubjectLock() }, image, ours(image)),
      foreign(image, tag, 'cosign', /a layer of type application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip/),
    );
    assert.deepEqual(puts, [], 'a manifest was written');
    const now = await underTag(image, tag);
    assert.equal(now.digest, user.digest, 'the tag was moved');
    assert.deepEqual(now.bytes, user.bytes);
  });

  test('other manifests that are no cosign signature manifest are refused too, nothing written', async () => {
    const repository = freshRepository();
    const image = await imageIn(repository);
    const tag = signatureTag(image.digest);
    const signing = await client.putBlob(image, buildSimpleSigningPayload(image), SIMPLE_SIGNING_MEDIA_TYPE);
    const bundle = await client.putBlob(image, unsignedBundleFor(image, 'x'), SIGSTORE_BUNDLE_V03);
    const tar = await client.putBlob(image, Buffer.from('not really a tar'), TAR_GZIP);
    const config = await client.putBlob(
      image,
      Buffer.from('{"rootfs":{"type":"layers","diff_ids":[]}}'),
      OCI_CONFIG,
    );
    const empty = await client.putBlob(image, Buffer.from('{}'), OCI_EMPTY);
    const cases: Array<{ name: string; manifest: object; mediaType?: string; held: RegExp }> = [
      {
        name: 'a simple-signing layer beside a filesystem layer',
        manifest: {
          config,
          layers: [
            { ...signing, mediaType: SIMPLE_SIGNING_MEDIA_TYPE },
            { ...tar, mediaType: TAR_GZIP },
          ],
        },
        held: /a layer of type application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip/,
      },
      {
        name: 'bundle layers',
        manifest: { config, layers: [{ ...bundle, mediaType: SIGSTORE_BUNDLE_V03 }] },
        held: /a layer of type application\/vnd\.dev\.sigstore\.bundle\.v0\.3\+json/,
      },
      {
        name: 'simple-signing layers under an artifact config',
        manifest: { config: empty, layers: [{ ...signing, mediaType: SIMPLE_SIGNING_MEDIA_TYPE }] },
        held: /config is of type application\/vnd\.oci\.empty\.v1\+json/,
      },
      { name: 'no layers', manifest: { config, layers: [] }, held: /no layers/ },
      {
        name: 'an index',
        manifest: {
          manifests: [{ ...(await client.resolve(image)), platform: { os: 'linux', architecture: 'amd64' } }],
        },
        mediaType: OCI_INDEX,
        held: /holds a manifest of type application\/vnd\.oci\.image\.index\.v1\+json/,
      },
    ];
    for (const c of cases) {
      const mediaType = c.mediaType ?? OCI_MANIFEST;
      const digest = await putUnder(image, tag, { schemaVersion: 2, mediaType, ...c.manifest }, mediaType);
      const { registry, puts } = counting();
      await assert.rejects(
        attachCosignSignature({ registry, lock: new InProcessSubjectLock() }, image, ours(image)),
        foreign(image, tag, 'cosign', c.held),
        c.name,
      );
      assert.deepEqual(puts, [], `${c.name}: a manifest was written`);
      assert.equal((await underTag(image, tag)).digest, digest, `${c.name}: the tag was moved`);
    }
  });

  for (const docker of [false, true]) {
    test(`control: another cosign signer's .sig${docker ? ' (Docker media types)' : ''} is appended to, its signature kept`, async () => {
      const image = await imageIn(freshRepository());
      await otherSignersSig(image, docker);
      const before = await readCosignSignatures(client, image);
      const result = await attachCosignSignature(
        { registry: client, lock: new InProcessSubjectLock() },
        image,
        ours(image),
      );
      assert.equal(result.appended, true);
      const after = await readCosignSignatures(client, image);
      assert.equal(after.length, 2);
      assert.deepEqual(after[0]?.layer, before[0]?.layer, "the other signer's layer is kept as it was");
      const manifest = JSON.parse((await underTag(image, result.tag)).bytes.toString());
      assert.equal(manifest.mediaType, docker ? DOCKER_MANIFEST : OCI_MANIFEST);
      assert.equal(manifest.config.mediaType, docker ? DOCKER_CONFIG : OCI_CONFIG);
    });
  }
});

describe('the bundle attach and what sha256-<A> holds (no referrers API: the fallback index)', () => {
  test("a user's multi-arch index there is left byte for byte, its tag unmoved, and the attach refused", async () => {
    const repository = freshRepository();
    const image = await imageIn(repository);
    const tag = digestTag(image.digest);
    const user = await reg.pushIndex(repository, tag, 'multi-arch under the digest tag');
    const { registry, puts } = counting();
    await assert.rejects(
      attachBundleReferrer(
        { registry, lock: new InProcessSubjectLock() },
        image,
        unsignedBundleFor(image, 'a'),
      ),
      foreign(image, tag, 'bundle', /no referrers index \(an entry with a platform/),
    );
    assert.deepEqual(puts, [], 'a manifest was written (the referrer or the index)');
    const now = await underTag(image, tag);
    assert.equal(now.digest, user.digest, 'the tag was moved');
    assert.deepEqual(now.bytes, user.bytes);
  });

  test('a referrers-shaped index listing something that could run, or an image, is refused too', async () => {
    const repository = freshRepository();
    const image = await imageIn(repository);
    const tag = digestTag(image.digest);
    const runnable = await reg.pushImage(repository, 'runnable', 'listed without a platform');
    const multiArch = await reg.pushIndex(repository, 'multi', 'listed without a platform');
    const listing = async (d: { digest: string; size: number; mediaType: string }) => ({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        await referrerOf(image, SPDX_JSON, Buffer.from('{"spdxVersion":"SPDX-2.3"}')),
        { mediaType: d.mediaType, digest: d.digest, size: d.size, artifactType: 'application/vnd.example' },
      ],
    });
    const cases: Array<{ name: string; put: () => Promise<string>; held: RegExp }> = [
      {
        name: 'an index listing a runnable image',
        put: async () => putUnder(image, tag, await listing(runnable), OCI_INDEX),
        held: new RegExp(`an index listing ${runnable.digest}, a manifest that could run`),
      },
      {
        name: 'an index listing a multi-arch index',
        put: async () => putUnder(image, tag, await listing(multiArch), OCI_INDEX),
        held: new RegExp(`an index listing ${multiArch.digest}, a manifest that could run`),
      },
      {
        name: 'a runnable image',
        put: async () => (await reg.pushImage(repository, tag, 'an image under the digest tag')).digest,
        held: /holds a manifest of type application\/vnd\.oci\.image\.manifest\.v1\+json/,
      },
    ];
    for (const c of cases) {
      const digest = await c.put();
      const { registry, puts } = counting();
      await assert.rejects(
        attachBundleReferrer(
          { registry, lock: new InProcessSubjectLock() },
          image,
          unsignedBundleFor(image, 'b'),
        ),
        foreign(image, tag, 'bundle', c.held),
        c.name,
      );
      assert.deepEqual(puts, [], `${c.name}: a manifest was written`);
      assert.equal((await underTag(image, tag)).digest, digest, `${c.name}: the tag was moved`);
    }
  });

  test("control: another writer's fallback index (a bundle and an SBOM referrer) is appended to", async () => {
    const image = await imageIn(freshRepository());
    const { entries } = await otherWritersIndex(image);
    const result = await attachBundleReferrer(
      { registry: client, lock: new InProcessSubjectLock() },
      image,
      unsignedBundleFor(image, 'ours'),
    );
    assert.equal(result.attached, true);
    assert.equal(result.via, 'tag-schema');
    const index = JSON.parse((await underTag(image, digestTag(image.digest))).bytes.toString());
    assert.deepEqual(index.manifests, [...entries, result.manifest]);
  });

  test('control: an index listing nothing is appended to (nothing in it to lose or to run)', async () => {
    const image = await imageIn(freshRepository());
    await putUnder(
      image,
      digestTag(image.digest),
      { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] },
      OCI_INDEX,
    );
    const result = await attachBundleReferrer(
      { registry: client, lock: new InProcessSubjectLock() },
      image,
      unsignedBundleFor(image, 'ours'),
    );
    assert.equal(result.attached, true);
    assert.deepEqual(
      (await listBundleReferrers(client, image)).descriptors.map((d) => d.digest),
      [result.manifest.digest],
    );
  });
});

describe('through signOnPush', () => {
  const named = (image: DigestReference) => `${image.host}/${image.repository}@${image.digest}`;
  const push = (image: DigestReference) =>
    gcrEvent({ action: 'INSERT', digest: named(image), tag: `${image.host}/${image.repository}:v1` });

  test('cosign alone, a runnable image under sha256-<A>.sig: left as it is, A refused with a HIGH signing-refused alert naming the tag', async () => {
    const repository = freshRepository();
    const image = await imageIn(repository);
    const tag = signatureTag(image.digest);
    const user = await reg.pushImage(repository, tag, 'runnable under the .sig tag');
    const h = signOnPushCore(client, reg.host, { formats: ['cosign'] });
    await h.entry(push(image));
    const now = await underTag(image, tag);
    assert.equal(now.digest, user.digest, 'the tag was moved');
    assert.deepEqual(now.bytes, user.bytes);
    assert.equal(h.raised.length, 1, JSON.stringify(h.raised));
    const [alert] = h.raised;
    assert.equal(alert?.kind, 'signing-refused');
    assert.equal(alert?.severity, 'HIGH');
    assert.equal(alert?.subject, named(image));
    assert.ok(alert?.summary.includes(`${reg.host}/${repository}:${tag}`), alert?.summary);
    assert.notEqual(h.store.records.get(named(image))?.state, 'attached');
  });

  test('bundle and cosign, a runnable image under sha256-<A>.sig: A keeps its bundle, the alert says the cosign format was not added and names the tag', async () => {
    const repository = freshRepository();
    const image = await imageIn(repository);
    const tag = signatureTag(image.digest);
    const user = await reg.pushImage(repository, tag, 'runnable under the .sig tag');
    const h = signOnPushCore(client, reg.host, { formats: ['bundle', 'cosign'] });
    await h.entry(push(image));
    const now = await underTag(image, tag);
    assert.equal(now.digest, user.digest, 'the tag was moved');
    assert.deepEqual(now.bytes, user.bytes);
    assert.equal((await listBundleReferrers(client, image)).descriptors.length, 1, 'the bundle is attached');
    const record = h.store.records.get(named(image));
    assert.equal(record?.formats.bundle?.attached, true);
    assert.notEqual(record?.formats.cosign?.attached, true);
    assert.equal(h.raised.length, 1, JSON.stringify(h.raised));
    const [alert] = h.raised;
    assert.equal(alert?.severity, 'HIGH');
    assert.equal(alert?.subject, named(image));
    assert.match(alert?.summary ?? '', /stays signed in bundle; the cosign format was not added/);
    assert.ok(alert?.summary.includes(`${reg.host}/${repository}:${tag}`), alert?.summary);
  });

  test("bundle alone, a user's multi-arch index under sha256-<A>: left as it is, A refused with a HIGH signing-refused alert naming the tag", async () => {
    const repository = freshRepository();
    const image = await imageIn(repository);
    const tag = digestTag(image.digest);
    const user = await reg.pushIndex(repository, tag, 'multi-arch under the digest tag');
    const h = signOnPushCore(client, reg.host, { formats: ['bundle'], signPlatformManifests: false });
    await h.entry(push(image));
    const now = await underTag(image, tag);
    assert.equal(now.digest, user.digest, 'the tag was moved');
    assert.deepEqual(now.bytes, user.bytes);
    assert.equal(h.raised.length, 1, JSON.stringify(h.raised));
    const [alert] = h.raised;
    assert.equal(alert?.kind, 'signing-refused');
    assert.equal(alert?.severity, 'HIGH');
    assert.ok(alert?.summary.includes(`${reg.host}/${repository}:${tag}`), alert?.summary);
    assert.notEqual(h.store.records.get(named(image))?.state, 'attached');
  });

  test("cosign and bundle, a user's multi-arch index under sha256-<A>: A keeps its cosign signature, the index is left as it is", async () => {
    const repository = freshRepository();
    const image = await imageIn(repository);
    const tag = digestTag(image.digest);
    const user = await reg.pushIndex(repository, tag, 'multi-arch under the digest tag');
    const h = signOnPushCore(client, reg.host, {
      formats: ['cosign', 'bundle'],
      signPlatformManifests: false,
    });
    await h.entry(push(image));
    const now = await underTag(image, tag);
    assert.equal(now.digest, user.digest, 'the tag was moved');
    assert.deepEqual(now.bytes, user.bytes);
    assert.equal((await readCosignSignatures(client, image)).length, 1, 'the cosign signature is attached');
    assert.equal(h.raised.length, 1, JSON.stringify(h.raised));
    assert.match(h.raised[0]?.summary ?? '', /stays signed in cosign; the bundle format was not added/);
    assert.ok(h.raised[0]?.summary.includes(`${reg.host}/${repository}:${tag}`), h.raised[0]?.summary);
  });

  test("bundle and cosign (the default order), a user's multi-arch index under sha256-<A>: the refused bundle does not stop the cosign signature", async () => {
    const repository = freshRepository();
    const image = await imageIn(repository);
    const tag = digestTag(image.digest);
    const user = await reg.pushIndex(repository, tag, 'multi-arch under the digest tag');
    const h = signOnPushCore(client, reg.host, {
      formats: ['bundle', 'cosign'],
      signPlatformManifests: false,
    });
    await h.entry(push(image));
    const now = await underTag(image, tag);
    assert.equal(now.digest, user.digest, 'the tag was moved');
    assert.equal((await readCosignSignatures(client, image)).length, 1, 'the cosign signature is attached');
    const record = h.store.records.get(named(image));
    assert.equal(record?.formats.cosign?.attached, true);
    assert.notEqual(record?.formats.bundle?.attached, true);
    assert.equal(h.raised.length, 1, JSON.stringify(h.raised));
    assert.equal(h.raised[0]?.severity, 'HIGH');
    assert.match(h.raised[0]?.summary ?? '', /stays signed in cosign; the bundle format was not added/);
    assert.ok(h.raised[0]?.summary.includes(`${reg.host}/${repository}:${tag}`), h.raised[0]?.summary);
  });

  test("control: another signer's .sig and fallback index are appended to, and what that writes is skipped, not signed", async () => {
    const repository = freshRepository();
    const image = await imageIn(repository);
    await otherSignersSig(image);
    const { entries } = await otherWritersIndex(image);
    const h = signOnPushCore(client, reg.host, { formats: ['bundle', 'cosign'] });
    await h.entry(push(image));
    assert.deepEqual(h.raised, []);
    assert.equal(h.store.records.get(named(image))?.state, 'attached');
    assert.equal((await readCosignSignatures(client, image)).length, 2);
    const index = JSON.parse((await underTag(image, digestTag(image.digest))).bytes.toString());
    assert.deepEqual(index.manifests.slice(0, 2), entries);
    assert.equal(index.manifests.length, 3);
    // The pushes the attach made, as the registry publishes them: acknowledged, not signed.
    const signed = h.signed.length;
    for (const [n, tag] of [signatureTag(image.digest), digestTag(image.digest)].entries()) {
      const digest = (await underTag(image, tag)).digest;
      await h.entry(
        gcrEvent(
          {
            action: 'INSERT',
            digest: `${reg.host}/${repository}@${digest}`,
            tag: `${reg.host}/${repository}:${tag}`,
          },
          `follow-up-${n}`,
        ),
      );
      assert.equal(
        h.store.records.get(`${reg.host}/${repository}@${digest}`),
        undefined,
        `${tag} was signed`,
      );
    }
    assert.equal(h.signed.length, signed);
    assert.deepEqual(h.raised, []);
  });
});
