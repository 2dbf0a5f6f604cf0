/**
 * Other tools' attestations and signatures are skipped, never signed, and only when nothing in them
 * could run (review 2026-12-03, findings 2, 5 and 6), against a real docker-registry through the
 * signOnPush core and entry:
 *
 * - buildx's in-toto attestation manifests (provenance, SBOM), pushed by digest as Artifact Registry
 *   publishes every child of a multi-arch push, and listed in an index as `unknown/unknown`; Notation
 *   signatures. Skipped with an INFO line naming why; a runnable image carrying buildx's
 *   `attestation-manifest` annotation, and other artifacts (a Helm chart, WASM), are still signed.
 * - An index shaped like a referrers fallback index (every entry an artifactType, no platform) is
 *   skipped only if nothing it lists could run, as reverify judges it; otherwise signed, with a NOTICE.
 * - A child of a pushed index that the registry will not serve as it should (RegistryIntegrityError,
 *   RegistryRejectedError) refuses the whole push with `signing-refused`; only a 404 is refused alone.
 */

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { RegistryIntegrityError, RegistryRejectedError } from '../../../functions/registry/errors.ts';
import type { Descriptor as FullDescriptor } from '../../../functions/registry/manifest.ts';
import { OCI_CONFIG, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST } from '../../../functions/registry/media-types.ts';
import type { Registry } from '../../../functions/registry/registry.ts';
import { NotInRegistryError } from '../../../functions/sign-on-push/not-in-registry.ts';
import {
  type ManifestReader,
  planPlatformManifests,
  type ReadManifest,
} from '../../../functions/sign-on-push/platform-manifests.ts';
import { signatureArtifactKind } from '../../../functions/sign-on-push/signature-artifacts.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { gcrEvent, putRawManifest, signOnPushCore } from '../../helpers/sign-on-push-core.ts';

/** What is read of a pushed manifest's descriptor here. */
type Descriptor = Pick<FullDescriptor, 'mediaType' | 'digest' | 'size'>;

const IN_TOTO = 'application/vnd.in-toto+json';
const NOTATION = 'application/vnd.cncf.notary.signature';
const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const TAR_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

let reg: TestRegistry;
before(async () => {
  reg = await startRegistry();
});
after(() => reg.stop());

const client = () => new RegistryClient({ allowedHosts: [reg.host] });
const repo = () => ({ host: reg.host, repository: 'team/app' });
const imageOf = (digest: string) => `${reg.host}/team/app@${digest}`;
const skips = (h: ReturnType<typeof signOnPushCore>) =>
  h.logger.entries.filter((e) => e.message.startsWith('skipped')).map((e) => e.message);
const platformSkips = (h: ReturnType<typeof signOnPushCore>) =>
  h.logger.entries
    .filter((e) => e.message.startsWith('platform manifest skipped'))
    .map((e) => [e.message, e.platform]);
const states = (h: ReturnType<typeof signOnPushCore>) =>
  Object.fromEntries([...h.store.records.values()].map((r) => [r.image, r.state]));
const digestOf = (body: string) => `sha256:${createHash('sha256').update(body).digest('hex')}`;

async function blob(bytes: Buffer, mediaType: string, extra: Record<string, unknown> = {}) {
  const pushed = await client().putBlob(repo(), bytes, mediaType);
  return { mediaType, digest: pushed.digest, size: bytes.byteLength, ...extra };
}

/** A manifest pushed as its bytes, by digest (`tag` undefined) or under a tag. */
function pushManifest(manifest: object, tag?: string, mediaType = OCI_MANIFEST): Promise<Descriptor> {
  const body = JSON.stringify(manifest);
  return putRawManifest(reg, 'team/app', tag ?? digestOf(body), mediaType, body);
}

/** The descriptor an index lists a manifest by. */
const entry = (d: Descriptor, extra: Record<string, unknown> = {}) => ({
  mediaType: d.mediaType,
  digest: d.digest,
  size: d.size,
  ...extra,
});

/**
 * A buildx attestation manifest for `subject` (docker buildx build --push, provenance by default,
 * `--sbom` adds an SPDX statement): in-toto statement layers annotated with their predicate type,
 * an `unknown/unknown` config listing them as diff IDs, as buildx writes it.
 */
async function buildxAttestation(subject: string, predicates = ['https://slsa.dev/provenance/v0.2']) {
  const layers = [];
  for (const predicateType of predicates) {
    const statement = Buffer.from(
      JSON.stringify({
        _type: 'https://in-toto.io/Statement/v0.1',
        predicateType,
        subject: [{ name: 'pkg:docker/team/app', digest: { sha256: subject.split(':')[1] } }],
        predicate: {},
      }),
    );
    layers.push(
      await blob(statement, IN_TOTO, { annotations: { 'in-toto.io/predicate-type': predicateType } }),
    );
  }
  const config = await blob(
    Buffer.from(
      JSON.stringify({
        architecture: 'unknown',
        os: 'unknown',
        config: {},
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      }),
    ),
    OCI_CONFIG,
  );
  return pushManifest({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers });
}

/** How buildx lists an attestation manifest in the image's index. */
const attestationEntry = (attestation: Descriptor, of: string) =>
  entry(attestation, {
    platform: { architecture: 'unknown', os: 'unknown' },
    annotations: {
      'vnd.docker.reference.digest': of,
      'vnd.docker.reference.type': 'attestation-manifest',
    },
  });

/**
 * A Notation signature of `subject`: OCI 1.1 (artifactType, the empty config) with a JWS envelope,
 * or as written for registries before 1.1 (the config's media type) with a COSE one.
 */
async function notationSignature(subject: Descriptor, form: 'artifactType' | 'config') {
  const envelope = form === 'artifactType' ? 'application/jose+json' : 'application/cose';
  const signature = await blob(
    Buffer.from(`{"payload":"e30","protected":"e30","signature":"${form}"}`),
    envelope,
  );
  const config = await blob(Buffer.from('{}'), form === 'artifactType' ? OCI_EMPTY : NOTATION);
  return pushManifest({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    ...(form === 'artifactType' ? { artifactType: NOTATION } : {}),
    config,
    layers: [signature],
    subject: entry(subject),
    annotations: { 'io.cncf.notary.x509chain.thumbprint#S256': '["0000"]' },
  });
}

describe("other tools' attestations and signatures, pushed on their own: skipped, never signed", () => {
  for (const [what, predicates] of [
    ['a buildx provenance attestation manifest', ['https://slsa.dev/provenance/v0.2']],
    [
      'a buildx provenance and SBOM attestation manifest',
      ['https://slsa.dev/provenance/v0.2', 'https://spdx.dev/Document'],
    ],
  ] as const) {
    test(`${what}, pushed by digest (as Artifact Registry publishes each child): skipped, no KMS call`, async () => {
      const image = await reg.pushImage('team/app', `attested-${predicates.length}`);
      const attestation = await buildxAttestation(image.digest, [...predicates]);
      const h = signOnPushCore(client(), reg.host, { signPlatformManifests: false });
      await h.entry(gcrEvent({ action: 'INSERT', digest: imageOf(attestation.digest) }));
      assert.deepEqual(skips(h), ['skipped: attestation manifest']);
      assert.deepEqual(h.gets, [attestation.digest], 'one GET, by digest');
      assert.deepEqual([h.store.claims, h.signed.length, h.raised.length], [0, 0, 0]);
      assert.deepEqual([...h.store.records.keys()], [], 'no signing record');
    });
  }

  for (const form of ['artifactType', 'config'] as const) {
    test(`a Notation signature (marked by its ${form}): skipped, no KMS call`, async () => {
      const image = await reg.pushImage('team/app', `notarised-${form}`);
      const signature = await notationSignature(image, form);
      const h = signOnPushCore(client(), reg.host);
      await h.entry(gcrEvent({ action: 'INSERT', digest: imageOf(signature.digest) }));
      assert.deepEqual(skips(h), ['skipped: Notation signature']);
      assert.deepEqual([h.store.claims, h.signed.length, h.raised.length], [0, 0, 0]);
      assert.deepEqual([...h.store.records.keys()], []);
    });
  }
});

describe('an index with buildx attestation manifests, its platform manifests signed', () => {
  test('the attestation manifests are skipped with an INFO line; the platform images and the index are signed', async () => {
    const pushed = await reg.pushIndex('team/app', 'bx-base');
    const [amd64, arm64] = pushed.platforms;
    const attestations = [
      await buildxAttestation(amd64!.digest),
      await buildxAttestation(arm64!.digest, [
        'https://slsa.dev/provenance/v0.2',
        'https://spdx.dev/Document',
      ]),
    ];
    const index = await pushManifest(
      {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          ...pushed.platforms.map((p) =>
            entry(p, { platform: { architecture: p.architecture, os: 'linux' } }),
          ),
          attestationEntry(attestations[0]!, amd64!.digest),
          attestationEntry(attestations[1]!, arm64!.digest),
        ],
      },
      'bx',
      OCI_INDEX,
    );
    const h = signOnPushCore(client(), reg.host, { signPlatformManifests: true });
    await h.entry(
      gcrEvent({ action: 'INSERT', digest: imageOf(index.digest), tag: `${reg.host}/team/app:bx` }),
    );
    assert.deepEqual(states(h), {
      [imageOf(amd64!.digest)]: 'attached',
      [imageOf(arm64!.digest)]: 'attached',
      [imageOf(index.digest)]: 'attached',
    });
    assert.deepEqual(
      platformSkips(h),
      attestations.map((a) => ['platform manifest skipped: attestation manifest', imageOf(a.digest)]),
    );
    assert.equal(h.signed.length, 3, 'KMS asked for the two images and the index only');
    assert.deepEqual(h.raised, []);
  });

  test('a runnable image listed as an attestation manifest (unknown/unknown, the annotation) is signed like any child', async () => {
    const image = await reg.pushImage('team/app', 'posing');
    const real = await reg.pushImage('team/app', 'real');
    const index = await pushManifest(
      {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          entry(real, { platform: { architecture: 'amd64', os: 'linux' } }),
          attestationEntry(image, real.digest),
        ],
      },
      'posing-index',
      OCI_INDEX,
    );
    const h = signOnPushCore(client(), reg.host, { signPlatformManifests: true });
    await h.entry(gcrEvent({ action: 'INSERT', digest: imageOf(index.digest) }));
    assert.equal(states(h)[imageOf(image.digest)], 'attached', 'the image under the annotation');
    assert.equal(states(h)[imageOf(index.digest)], 'attached');
    assert.deepEqual(platformSkips(h), []);
    assert.deepEqual(h.raised, []);
  });
});

describe('what is still signed: artifacts that are not signatures or attestations, and anything that could run', () => {
  test('a Helm chart and a WASM module (OCI artifacts users sign) are signed as before', async () => {
    for (const [tag, configType, layerType] of [
      [
        'chart-1.0.0',
        'application/vnd.cncf.helm.config.v1+json',
        'application/vnd.cncf.helm.chart.content.v1.tar+gzip',
      ],
      ['module-1.0.0', 'application/vnd.wasm.config.v1+json', 'application/vnd.wasm.content.layer.v1+wasm'],
    ] as const) {
      const config = await blob(Buffer.from(`{"name":"${tag}"}`), configType);
      const layer = await blob(Buffer.from(`content of ${tag}`), layerType);
      const artifact = await pushManifest(
        { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] },
        tag,
      );
      const h = signOnPushCore(client(), reg.host);
      await h.entry(
        gcrEvent({ action: 'INSERT', digest: imageOf(artifact.digest), tag: `${reg.host}/team/app:${tag}` }),
      );
      assert.deepEqual(skips(h), [], tag);
      assert.equal(states(h)[imageOf(artifact.digest)], 'attached', tag);
    }
  });

  test('an attestation layer beside a filesystem layer, a Notation mark on an image, or a JWS layer with no mark: signed', () => {
    const layer = (mediaType: string) => ({ mediaType, digest: `sha256:${'a'.repeat(64)}`, size: 1 });
    const config = (mediaType = OCI_CONFIG) => ({ mediaType, digest: `sha256:${'c'.repeat(64)}`, size: 2 });
    const manifest = (layers: string[], extra: Record<string, unknown> = {}) => ({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: config(),
      layers: layers.map(layer),
      ...extra,
    });
    assert.equal(signatureArtifactKind(manifest([IN_TOTO])), 'attestation manifest');
    assert.equal(
      signatureArtifactKind(manifest([IN_TOTO, 'application/vnd.dsse.envelope.v1+json'])),
      'attestation manifest',
    );
    assert.equal(signatureArtifactKind(manifest([IN_TOTO, TAR_GZIP])), undefined);
    assert.equal(signatureArtifactKind(manifest([TAR_GZIP, IN_TOTO])), undefined);
    assert.equal(
      signatureArtifactKind(manifest([IN_TOTO, 'application/vnd.docker.image.rootfs.diff.tar.gzip'])),
      undefined,
    );
    assert.equal(
      signatureArtifactKind(manifest(['application/jose+json'], { artifactType: NOTATION })),
      'Notation signature',
    );
    assert.equal(
      signatureArtifactKind(manifest(['application/cose'], { config: config(NOTATION) })),
      'Notation signature',
    );
    assert.equal(
      signatureArtifactKind(manifest(['application/cose'], { config: { MediaType: NOTATION, digest: 'x' } })),
      'Notation signature',
      'the config descriptor read as Go reads it',
    );
    assert.equal(signatureArtifactKind(manifest([TAR_GZIP], { artifactType: NOTATION })), undefined);
    assert.equal(
      signatureArtifactKind(manifest(['application/jose+json', TAR_GZIP], { artifactType: NOTATION })),
      undefined,
    );
    assert.equal(signatureArtifactKind(manifest([], { artifactType: NOTATION })), undefined);
    assert.equal(signatureArtifactKind(manifest(['application/jose+json'])), undefined);
    assert.equal(
      signatureArtifactKind(manifest(['application/jose+json'], { artifactType: 'application/x.other' })),
      undefined,
    );
  });
});

describe('an index shaped like a referrers fallback index (every entry an artifactType, no platform)', () => {
  /** An OCI index listing each of `listed` with an artifactType and no platform. */
  const referrersShaped = (tag: string, listed: Descriptor[]) =>
    pushManifest(
      {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: listed.map((d) => entry(d, { artifactType: 'application/vnd.example.app' })),
      },
      tag,
      OCI_INDEX,
    );

  test('listing a runnable image: signed, with a NOTICE naming it, and the image too', async () => {
    const image = await reg.pushImage('team/app', 'inner');
    const index = await referrersShaped('release', [image]);
    const h = signOnPushCore(client(), reg.host, { signPlatformManifests: true });
    await h.entry(
      gcrEvent({ action: 'INSERT', digest: imageOf(index.digest), tag: `${reg.host}/team/app:release` }),
    );
    assert.deepEqual(skips(h), []);
    assert.deepEqual(states(h), { [imageOf(image.digest)]: 'attached', [imageOf(index.digest)]: 'attached' });
    const notice = h.logger.entries.find((e) => e.message.includes('shaped like a referrers fallback index'));
    assert.equal(notice?.severity, 'NOTICE');
    assert.deepEqual([notice?.image, notice?.runnable], [imageOf(index.digest), imageOf(image.digest)]);
    assert.deepEqual(h.raised, []);
  });

  test('listing an image whose layers are labelled otherwise (its config lists diff IDs): signed', async () => {
    const image = await reg.pushImage('team/app', 'relabelled-base');
    const manifest = JSON.parse(image.bytes.toString());
    manifest.layers = manifest.layers.map((l: object) => ({ ...l, mediaType: 'application/octet-stream' }));
    const relabelled = await pushManifest(manifest);
    const index = await referrersShaped('relabelled', [relabelled]);
    const h = signOnPushCore(client(), reg.host, { signPlatformManifests: false });
    await h.entry(gcrEvent({ action: 'INSERT', digest: imageOf(index.digest) }));
    assert.deepEqual(skips(h), []);
    assert.equal(states(h)[imageOf(index.digest)], 'attached');
  });

  test('listing only what could not run (a bundle, a Notation signature, an ORAS file, a gone manifest): skipped', async () => {
    const subject = await reg.pushImage('team/app', 'subject');
    const bundle = await pushManifest({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: BUNDLE,
      config: await blob(Buffer.from('{}'), OCI_EMPTY),
      layers: [await blob(Buffer.from('{"mediaType":"bundle"}'), BUNDLE)],
      subject: entry(subject),
    });
    const notation = await notationSignature(subject, 'artifactType');
    const oras = await pushManifest({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/spdx+json',
      config: await blob(Buffer.from('{}'), OCI_EMPTY),
      layers: [
        await blob(Buffer.from('{"spdxVersion":"SPDX-2.3"}'), 'application/vnd.oci.image.layer.v1.tar'),
      ],
      subject: entry(subject),
    });
    const gone = await reg.pushImage('team/app', 'listed-then-gone');
    const index = await referrersShaped(subject.digest.replace(':', '-'), [bundle, notation, oras, gone]);
    const deleted = await fetch(`${reg.url}/v2/team/app/manifests/${gone.digest}`, { method: 'DELETE' });
    assert.equal(deleted.status, 202);
    const h = signOnPushCore(client(), reg.host);
    await h.entry(gcrEvent({ action: 'INSERT', digest: imageOf(index.digest) }));
    assert.deepEqual(skips(h), ['skipped: referrers fallback index']);
    assert.deepEqual(h.gets, [index.digest, bundle.digest, notation.digest, oras.digest, gone.digest]);
    assert.deepEqual([h.store.claims, h.signed.length, h.raised.length], [0, 0, 0]);
  });

  test('a listed manifest the registry will not serve as it should: refused with signing-refused, nothing signed', async () => {
    const image = await reg.pushImage('team/app', 'unserved');
    const index = await referrersShaped('unserved-index', [image]);
    const h = signOnPushCore(failingOn(client(), image.digest, 'integrity'), reg.host);
    await h.entry(gcrEvent({ action: 'INSERT', digest: imageOf(index.digest) }));
    assert.deepEqual(
      h.raised.map((a) => [a.kind, a.severity, a.subject]),
      [['signing-refused', 'HIGH', imageOf(index.digest)]],
    );
    assert.match(h.raised[0]!.summary, /shape of a referrers fallback index.*could not be read.*do not hash/);
    assert.deepEqual([h.store.claims, h.signed.length], [0, 0]);
  });
});

/** `registry`, whose getManifest of `digest` fails for good as `kind` says. */
function failingOn(registry: Registry, digest: string, kind: 'integrity' | 'rejected'): Registry {
  return new Proxy(registry, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      if (property !== 'getManifest') return value.bind(target);
      return async (...args: Parameters<Registry['getManifest']>) => {
        if (args[1] === digest) {
          throw kind === 'integrity'
            ? new RegistryIntegrityError('manifest bytes do not hash to their digest', { digest })
            : new RegistryRejectedError('HTTP 403 DENIED', { digest });
        }
        return target.getManifest(...args);
      };
    },
  });
}

describe('a platform manifest the registry will not serve as it should refuses the whole push', () => {
  for (const kind of ['integrity', 'rejected'] as const) {
    test(`${kind === 'integrity' ? 'RegistryIntegrityError' : 'RegistryRejectedError'}: signing-refused naming the index, the index not signed`, async () => {
      const index = await reg.pushIndex('team/app', `unserved-child-${kind}`);
      const bad = index.platforms[1]!.digest;
      const h = signOnPushCore(failingOn(client(), bad, kind), reg.host, { signPlatformManifests: true });
      await h.entry(gcrEvent({ action: 'INSERT', digest: imageOf(index.digest) }));
      assert.deepEqual(
        h.raised.map((a) => [a.kind, a.severity, a.subject]),
        [['signing-refused', 'HIGH', imageOf(index.digest)]],
      );
      assert.ok(
        h.raised[0]!.summary.startsWith(
          `refusing to sign ${imageOf(index.digest)}: the manifest ${imageOf(bad)} in it could not be read`,
        ),
        h.raised[0]!.summary,
      );
      assert.deepEqual(
        [h.store.claims, h.signed.length],
        [0, 0],
        'nothing claimed or signed, the index included',
      );
      assert.deepEqual([...h.store.records.keys()], []);
    });
  }
});

describe('planPlatformManifests: an index inside the push shaped like a referrers fallback index', () => {
  const D = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
  const shaped = (listed: string[]) => ({
    mediaType: OCI_INDEX,
    manifests: listed.map((digest) => ({ digest, artifactType: BUNDLE })),
  });
  const image = { layers: [{ mediaType: TAR_GZIP }], config: { digest: D(99) } };
  const bundle = { layers: [{ mediaType: BUNDLE }] };
  /** A reader over manifests in memory; `missing` answers as the core's reader does for a 404. */
  function reader(views: Map<string, object>, missing: string[] = []) {
    const reads: string[] = [];
    const manifest = (digest: string): ReadManifest => ({
      digest,
      image: `h/r@${digest}`,
      isIndex: 'manifests' in (views.get(digest) ?? {}),
      view: views.get(digest)!,
    });
    const r: ManifestReader = {
      read: async (digest) => {
        reads.push(digest);
        if (missing.includes(digest)) throw new NotInRegistryError(`h/r@${digest}`);
        return manifest(digest);
      },
      imageOf: (digest) => `h/r@${digest}`,
    };
    return { reads, reader: r, manifest };
  }

  test('listing only referrers (or gone ones): skipped, what it lists not planned', async () => {
    const views = new Map<string, object>([
      [D(0), { manifests: [{ digest: D(1) }, { digest: D(2) }] }],
      [D(1), image],
      [D(2), shaped([D(3), D(4)])],
      [D(3), bundle],
    ]);
    const { reader: r, manifest } = reader(views, [D(4)]);
    const steps = await planPlatformManifests(manifest(D(0)), r);
    assert.deepEqual(
      steps.map((s) => [s.kind, s.image, s.kind === 'skip' ? s.reason : '']),
      [
        ['sign', `h/r@${D(1)}`, ''],
        ['skip', `h/r@${D(2)}`, 'referrers fallback index'],
      ],
    );
  });

  test('listing a manifest that could run: an index like any other, its entries planned, each read once', async () => {
    const views = new Map<string, object>([
      [D(0), { manifests: [{ digest: D(2) }] }],
      [D(1), image],
      [D(2), shaped([D(3), D(1)])],
      [D(3), bundle],
    ]);
    const { reader: r, manifest, reads } = reader(views);
    const steps = await planPlatformManifests(manifest(D(0)), r);
    assert.deepEqual(
      steps.map((s) => [s.kind, s.image]),
      [
        ['skip', `h/r@${D(3)}`],
        ['sign', `h/r@${D(1)}`],
        ['sign', `h/r@${D(2)}`],
      ],
    );
    assert.deepEqual(reads, [D(2), D(3), D(1)]);
  });
});
