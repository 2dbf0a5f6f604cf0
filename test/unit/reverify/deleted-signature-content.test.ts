/**
 * A cached verdict and the content its signatures were read from. The fingerprint a verdict is cached
 * under names the `.sig` manifest and the referrers index only, so deleting what they point to (a
 * `.sig` layer's payload blob, a referrer manifest the fallback index lists, a bundle's blob) left it
 * unchanged, and every later pass called the tag `valid` from the cache with no alert, while a fresh
 * verification (and cosign) rejected it (found by review: MEDIUM). A warm pass now HEADs what the
 * verified findings were read from before reusing their verdict, once per digest per pass. Real
 * docker-registry (no referrers API: the fallback index) behind a recording proxy, Rekor emulator.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { signatureTag } from '../../../functions/attach/cosign-layout.ts';
import { digestTag } from '../../../functions/registry/digest.ts';
import type { DigestReference } from '../../../functions/registry/reference.ts';
import { reverifyOnce } from '../../../functions/reverify/core.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import type { ProxiedRequest, ProxyIntercept } from '../../helpers/registry.ts';
import { reverifyHarness, statusOf } from '../../helpers/reverify.ts';
import { signImage } from '../../helpers/sign-image.ts';

describe('a cached verdict whose signature content was deleted', () => {
  /** What the current test does to registry requests (none: passed through). */
  let intercept: ProxyIntercept | undefined;
  const harness = reverifyHarness('deleted-signature-content', {
    intercept: (req, res) => intercept?.(req, res) ?? false,
  });

  /** DELETE straight at the registry (an operator, a cleanup policy, anyone with delete rights). */
  const del = async (repository: string, kind: 'blobs' | 'manifests', digest: string) => {
    const res = await fetch(`${harness.testRegistry.url}/v2/${repository}/${kind}/${digest}`, {
      method: 'DELETE',
    });
    assert.equal(res.status, 202, `DELETE ${kind}/${digest}`);
  };
  const manifestJson = async (image: DigestReference, ref: string) =>
    JSON.parse(Buffer.from((await harness.registry.getManifest(image, ref)).bytes).toString('utf8')) as {
      layers: Array<{ digest: string }>;
      manifests?: Array<{ digest: string }>;
    };
  /** What a signed image's signatures were read from: `.sig` layers, referrer manifests, bundle blobs. */
  const contentOf = async (image: DigestReference) => {
    const tags = await harness.registry.listTags(image);
    const read = async (tag: string) => (tags.includes(tag) ? await manifestJson(image, tag) : undefined);
    const layers = ((await read(signatureTag(image.digest)))?.layers ?? []).map((l) => l.digest);
    const referrers = ((await read(digestTag(image.digest)))?.manifests ?? []).map((m) => m.digest);
    const bundles = [];
    for (const referrer of referrers) bundles.push((await manifestJson(image, referrer)).layers[0]!.digest);
    return { layers, referrers, bundles };
  };

  /** `repository:prod` signed in `formats`, judged `valid` by a first (cold) pass. */
  const signedProd = async (
    repository: string,
    formats: Array<'cosign' | 'bundle'> = ['cosign', 'bundle'],
  ) => {
    const image = await harness.push(repository, 'prod', `deleted content ${repository}`);
    await signImage(
      { registry: harness.registry, signer: harness.signer, rekorUrl: harness.rekor.url, formats },
      image,
    );
    const store = new MemoryTagStore();
    const alerts = new RecordingAlertSink();
    const deps = () => harness.deps({ store, alerts, watch: [`${harness.host}/${repository}`] });
    const tag = harness.ref(repository, 'prod');
    const cold = await reverifyOnce(deps());
    assert.deepEqual(cold.errors, []);
    assert.equal(statusOf(cold, tag), 'valid');
    return { image, store, alerts, deps, tag };
  };

  it('a .sig payload blob deleted: verified afresh, invalid, signature-invalid raised', async () => {
    const { image, alerts, deps, tag } = await signedProd('team/payload', ['cosign']);
    for (const layer of (await contentOf(image)).layers) await del(image.repository, 'blobs', layer);

    const warm = await reverifyOnce(deps());
    assert.deepEqual(warm.errors, []);
    assert.equal(warm.cached, 0);
    assert.equal(statusOf(warm, tag), 'invalid');
    assert.deepEqual(alerts.openKinds(tag), ['signature-invalid']);
    assert.match(alerts.open.get(`signature-invalid:${tag}`)!.summary, /payload cannot be read/);
  });

  it('a bundle referrer manifest deleted (the index still lists it): verified afresh, missing, alerted', async () => {
    const { image, alerts, deps, tag } = await signedProd('team/referrer', ['bundle']);
    const { referrers } = await contentOf(image);
    assert.equal(referrers.length, 1);
    await del(image.repository, 'manifests', referrers[0]!);

    const warm = await reverifyOnce(deps());
    assert.deepEqual(warm.errors, []);
    assert.equal(warm.cached, 0);
    assert.equal(statusOf(warm, tag), 'missing');
    assert.deepEqual(alerts.openKinds(tag), ['signature-missing']);
  });

  it('a bundle blob deleted: verified afresh, missing, alerted', async () => {
    const { image, alerts, deps, tag } = await signedProd('team/bundle-blob', ['bundle']);
    const { bundles } = await contentOf(image);
    assert.equal(bundles.length, 1);
    await del(image.repository, 'blobs', bundles[0]!);

    const warm = await reverifyOnce(deps());
    assert.deepEqual(warm.errors, []);
    assert.equal(warm.cached, 0);
    assert.equal(statusOf(warm, tag), 'missing');
    assert.deepEqual(alerts.openKinds(tag), ['signature-missing']);
  });

  it('all still there: the verdict is reused after one HEAD of each, and nothing is downloaded', async () => {
    const { image, store, alerts, deps, tag } = await signedProd('team/present');
    // A second tag of the digest, whose record expects only the cosign layout: judged apart from
    // `prod` (another expectation), it rests on the same content, which is checked once all the same.
    await harness.registry.putManifest(
      image,
      'stable',
      (await harness.registry.getManifest(image, image.digest)).bytes,
      'application/vnd.oci.image.manifest.v1+json',
    );
    const stable = harness.ref('team/present', 'stable');
    assert.equal(statusOf(await reverifyOnce(deps()), stable), 'valid');
    const loaded = (await store.load([stable])).get(stable)!;
    assert.equal(await store.put({ ...loaded, verifiedLayouts: ['cosign'] }, loaded), 'stored');
    const content = await contentOf(image);
    assert.equal(content.layers.length + content.referrers.length + content.bundles.length, 3);

    const seen: ProxiedRequest[] = [];
    intercept = (req) => {
      if (req.url.pathname.startsWith(`/v2/${image.repository}/`)) seen.push(req);
      return false;
    };
    let warm: Awaited<ReturnType<typeof reverifyOnce>>;
    try {
      warm = await reverifyOnce(deps());
    } finally {
      intercept = undefined;
    }
    assert.deepEqual(warm.errors, []);
    assert.equal(warm.cached, 2);
    assert.equal(statusOf(warm, tag), 'valid');
    assert.equal(statusOf(warm, stable), 'valid');
    assert.deepEqual(alerts.openKinds(tag), []);
    const count = (method: string, kind: string, digest: string) =>
      seen.filter((r) => r.method === method && r.url.pathname.endsWith(`/${kind}/${digest}`)).length;
    for (const layer of content.layers) assert.equal(count('HEAD', 'blobs', layer), 1, `HEAD ${layer}`);
    for (const referrer of content.referrers) assert.equal(count('HEAD', 'manifests', referrer), 1);
    for (const bundle of content.bundles) assert.equal(count('HEAD', 'blobs', bundle), 1, `HEAD ${bundle}`);
    // (The artifact tags `sha256-<hex>.sig` and `sha256-<hex>` the repository lists are read by tag,
    // as on every pass, to tell them from images: not the content of a verdict.)
    const downloads = seen.filter(
      (r) => r.method === 'GET' && /\/(manifests\/sha256:|blobs\/)/.test(r.url.pathname),
    );
    assert.deepEqual(
      downloads.map((r) => r.url.pathname),
      [],
    );
  });

  it('a HEAD answering 503: an outage, the tag an error and its verdict standing; checked again next pass', async () => {
    const { image, store, alerts, deps, tag } = await signedProd('team/outage', ['bundle']);
    const { bundles } = await contentOf(image);
    const heads: string[] = [];
    intercept = (req, res) => {
      if (req.method !== 'HEAD' || !req.url.pathname.endsWith(`/blobs/${bundles[0]}`)) return false;
      heads.push(req.url.pathname);
      res.writeHead(503).end();
      return true;
    };
    let down: Awaited<ReturnType<typeof reverifyOnce>>;
    try {
      down = await reverifyOnce(deps());
    } finally {
      intercept = undefined;
    }
    assert.equal(heads.length, 1);
    assert.deepEqual(
      down.errors.map((e) => e.ref),
      [tag],
    );
    assert.match(down.errors[0]!.error, /check blob: HTTP 503/);
    assert.equal(statusOf(down, tag), undefined);
    assert.equal(store.records.get(tag)!.status, 'valid');
    assert.deepEqual(alerts.openKinds(tag), []);
    assert.equal(alerts.tagCalls.filter((c) => c.op === 'raise').length, 0);

    const after = await reverifyOnce(deps());
    assert.deepEqual(after.errors, []);
    assert.equal(after.cached, 1);
    assert.equal(statusOf(after, tag), 'valid');
  });

  it('a record from before bundle blobs were recorded is verified afresh once, then reused', async () => {
    const { store, alerts, deps, tag } = await signedProd('team/upgrade');
    const loaded = (await store.load([tag])).get(tag)!;
    assert.ok(loaded.findings.some((f) => f.layout === 'bundle' && f.bundleBlob !== undefined));
    const older = loaded.findings.map(({ bundleBlob: _blob, ...f }) => f);
    assert.equal(await store.put({ ...loaded, findings: older }, loaded), 'stored');

    const upgrade = await reverifyOnce(deps());
    assert.deepEqual(upgrade.errors, []);
    assert.equal(upgrade.cached, 0);
    assert.equal(statusOf(upgrade, tag), 'valid');
    assert.equal(upgrade.changed, 0);
    assert.deepEqual(alerts.openKinds(tag), []);
    const bundle = store.records.get(tag)!.findings.find((f) => f.layout === 'bundle')!;
    assert.match(bundle.bundleBlob ?? '', /^sha256:[0-9a-f]{64}$/);

    const next = await reverifyOnce(deps());
    assert.equal(next.cached, 1);
    assert.equal(statusOf(next, tag), 'valid');
  });
});
