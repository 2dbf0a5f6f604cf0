/**
 * The platform manifests one push makes signOnPush read and sign, against a real docker-registry:
 * each digest once however often nested indexes list it (before: 1 + N + N² reads and claims on
 * every delivery), an index inside an index but no deeper, at most MAX_MANIFESTS_PER_PUSH in all,
 * a push past a bound refused whole with an alert, as is a push listing a manifest sigsentry will not
 * read as the registry reads it (the index's signature would cover it); and a platform the registry
 * does not have, or that cannot be signed, still alerted on its own while the rest is signed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { signatureTag } from '../../../functions/attach/cosign-layout.ts';
import { DependencyError, PolicyViolationError } from '../../../functions/errors.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import type { Descriptor } from '../../../functions/registry/manifest.ts';
import { OCI_INDEX } from '../../../functions/registry/media-types.ts';
import type { Registry } from '../../../functions/registry/registry.ts';
import { readManifestView } from '../../../functions/sign-on-push/manifest-view.ts';
import { NotInRegistryError } from '../../../functions/sign-on-push/not-in-registry.ts';
import {
  IndexTooDeepError,
  MAX_MANIFESTS_PER_PUSH,
  type ManifestReader,
  planPlatformManifests,
  type ReadManifest,
  TooManyManifestsError,
  UnreadableChildError,
} from '../../../functions/sign-on-push/platform-manifests.ts';
import { type PushedManifest, startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { gcrEvent, putRawManifest, signOnPushCore } from '../../helpers/sign-on-push-core.ts';

let reg: TestRegistry;
before(async () => {
  reg = await startRegistry();
});
after(() => reg.stop());

const client = () => new RegistryClient({ allowedHosts: [reg.host] });
const imageOf = (digest: string) => `${reg.host}/team/app@${digest}`;
const listed = (d: Pick<Descriptor, 'mediaType' | 'digest' | 'size'>) => ({
  mediaType: d.mediaType,
  digest: d.digest,
  size: d.size,
  platform: { architecture: 'amd64', os: 'linux' },
});

/** An OCI index listing `children`, pushed under `tag`. */
function pushIndex(tag: string, children: ReadonlyArray<Pick<Descriptor, 'mediaType' | 'digest' | 'size'>>) {
  const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: children.map(listed) });
  return putRawManifest(reg, 'team/app', tag, OCI_INDEX, body);
}

/** `count` distinct image manifests sharing `image`'s blobs (an annotation apart), pushed directly. */
async function variantsOf(image: PushedManifest, count: number): Promise<Descriptor[]> {
  const manifest = JSON.parse(image.bytes.toString());
  const variants: Descriptor[] = [];
  for (let i = 0; i < count; i++) {
    const body = JSON.stringify({ ...manifest, annotations: { 'dev.sigsentry.test.variant': String(i) } });
    variants.push(await putRawManifest(reg, 'team/app', `variant-${i}`, image.mediaType, body));
  }
  return variants;
}

describe('nested indexes listing one child many times', () => {
  test('each digest is read and claimed once per delivery, and signed once', async () => {
    const N = 12;
    const leaf = await reg.pushImage('team/app', 'leaf');
    const i1 = await pushIndex(
      'i1',
      Array.from({ length: N }, () => leaf),
    );
    const i2 = await pushIndex(
      'i2',
      Array.from({ length: N }, () => i1),
    );
    const h = signOnPushCore(client(), reg.host);
    const push = gcrEvent({ action: 'INSERT', digest: imageOf(i2.digest), tag: `${reg.host}/team/app:i2` });

    await h.entry(push);
    assert.equal(h.store.claims, 3, 'claims on the first delivery');
    for (const digest of [i2.digest, i1.digest, leaf.digest]) {
      assert.equal(h.gets.filter((g) => g === digest).length, 1, `reads of ${digest}`);
      assert.equal(h.store.records.get(imageOf(digest))?.state, 'attached');
    }
    assert.equal(h.signed.length, 3);

    h.gets.length = 0;
    h.store.claims = 0;
    await h.entry(push); // a redelivery: everything is signed already
    // Each digest read once; each image, already signed, has its `.sig` manifest read once to see
    // its signature is still there (nothing to attach again).
    const sigTags = [i2, i1, leaf].map((d) => signatureTag(d.digest));
    const checks = h.gets.filter((g) => sigTags.includes(g));
    assert.deepEqual(checks.sort(), [...sigTags].sort(), 'one look at each .sig');
    assert.deepEqual([h.gets.length - checks.length, h.store.claims, h.signed.length], [3, 3, 3]);
    assert.deepEqual(h.raised, []);
  });

  test('an index nested two deep is refused whole with an alert: nothing claimed or signed', async () => {
    const leaf = await reg.pushImage('team/app', 'deep-leaf');
    const i1 = await pushIndex('deep-1', [leaf]);
    const i2 = await pushIndex('deep-2', [i1]);
    const i3 = await pushIndex('deep-3', [i2]);
    const h = signOnPushCore(client(), reg.host);
    await h.entry(gcrEvent({ action: 'INSERT', digest: imageOf(i3.digest) }));
    assert.deepEqual(
      h.raised.map((a) => [a.kind, a.subject]),
      [['signing-refused', imageOf(i3.digest)]],
    );
    assert.match(
      h.raised[0]!.summary,
      new RegExp(`the index .*@${i1.digest} is nested 2 indexes deep in it, over the limit of 1`),
    );
    assert.deepEqual([h.store.claims, h.signed.length], [0, 0]);
  });
});

describe(`more than ${MAX_MANIFESTS_PER_PUSH} distinct manifests in one push`, () => {
  test('refused whole before any child is read, with an alert naming the pushed index', async () => {
    const base = await reg.pushImage('team/app', 'many-base');
    const children = await variantsOf(base, MAX_MANIFESTS_PER_PUSH); // with the index: one over
    const index = await pushIndex('many', children);
    const h = signOnPushCore(client(), reg.host);
    await h.entry(gcrEvent({ action: 'INSERT', digest: imageOf(index.digest) }));
    assert.deepEqual(h.gets, [index.digest]);
    assert.deepEqual([h.store.claims, h.signed.length], [0, 0]);
    assert.deepEqual(
      h.raised.map((a) => [a.kind, a.subject]),
      [['signing-refused', imageOf(index.digest)]],
    );
    assert.match(h.raised[0]!.summary, /over the limit of 256/);
  });
});

describe('a manifest in the push that sigsentry will not read as the registry reads it', () => {
  /** Pushes an index listing a good image and `bad`; signOnPush must refuse it whole, naming `bad`. */
  async function refusedWhole(tag: string, bad: Descriptor, reason: RegExp): Promise<void> {
    const good = await reg.pushImage('team/app', `${tag}-good`);
    const index = await pushIndex(tag, [good, bad]);
    const h = signOnPushCore(client(), reg.host);
    await h.entry(
      gcrEvent({ action: 'INSERT', digest: imageOf(index.digest), tag: `${reg.host}/team/app:${tag}` }),
    );
    assert.deepEqual([...h.store.records.keys()], [], 'nothing claimed');
    assert.deepEqual([h.store.claims, h.signed.length], [0, 0]);
    assert.deepEqual(
      h.raised.map((a) => [a.kind, a.subject]),
      [['signing-refused', imageOf(index.digest)]],
    );
    const summary = h.raised[0]!.summary;
    assert.ok(
      summary.startsWith(
        `refusing to sign ${imageOf(index.digest)}: the manifest ${imageOf(bad.digest)} in it `,
      ),
      summary,
    );
    assert.match(summary, reason);
  }

  test('a platform manifest spelling a field two ways: the index is not signed over it', async () => {
    const base = await reg.pushImage('team/app', 'ambiguous-base');
    const m = JSON.parse(base.bytes.toString());
    const text = JSON.stringify(m).replace(/}$/, `,"Layers":${JSON.stringify(m.layers)}}`);
    const child = await putRawManifest(reg, 'team/app', 'ambiguous', base.mediaType, text);
    await refusedWhole('over-ambiguous', child, /spells the field "layers" more than one way/);
  });

  test('a platform manifest with a key twice: the index is not signed over it', async () => {
    const base = await reg.pushImage('team/app', 'twice-base');
    const m = JSON.parse(base.bytes.toString());
    const text = JSON.stringify(m).replace(/}$/, `,"config":${JSON.stringify(m.config)}}`);
    const child = await putRawManifest(reg, 'team/app', 'twice', base.mediaType, text);
    await refusedWhole('over-twice', child, /has the key "config" twice in one object at \$/);
  });

  test('a nested index spelling its list two ways: refused whole, its hidden child never signed', async () => {
    const hidden = await reg.pushImage('team/app', 'hidden');
    const nestedBody = `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":[null],"Manifests":[${JSON.stringify(listed(hidden))}]}`;
    const nested = await putRawManifest(reg, 'team/app', 'two-lists', OCI_INDEX, nestedBody);
    await refusedWhole('with-two-lists', nested, /spells the field "manifests" more than one way/);
  });
});

describe('a platform manifest that cannot be signed', () => {
  test('one the registry does not have (404) is alerted on its own; the rest is signed', async () => {
    const good = await reg.pushImage('team/app', 'kept');
    const gone = await reg.pushImage('team/app', 'gone');
    const index = await pushIndex('with-gone', [good, gone]);
    const deleted = await fetch(`${reg.url}/v2/team/app/manifests/${gone.digest}`, { method: 'DELETE' });
    assert.equal(deleted.status, 202);
    const h = signOnPushCore(client(), reg.host);
    await h.entry(gcrEvent({ action: 'INSERT', digest: imageOf(index.digest) }));
    assert.deepEqual(
      [...h.store.records.values()].map((r) => [r.image, r.state]).sort(),
      [
        [imageOf(good.digest), 'attached'],
        [imageOf(index.digest), 'attached'],
      ].sort(),
    );
    assert.deepEqual(
      h.raised.map((a) => [a.kind, a.subject]),
      [['signing-refused', imageOf(gone.digest)]],
    );
    assert.match(h.raised[0]!.summary, /is not in the registry/);
  });

  test('a retryable failure reading a platform is rethrown before anything is claimed', async () => {
    const platform = await reg.pushImage('team/app', 'flaky');
    const index = await pushIndex('flaky-index', [platform]);
    const failing = (real: Registry): Registry =>
      new Proxy(real, {
        get(target, property) {
          const value = Reflect.get(target, property, target).bind(target);
          if (property !== 'getManifest') return value;
          return async (...args: Parameters<Registry['getManifest']>) => {
            if (args[1] === platform.digest) throw new DependencyError('registry', 'HTTP 503');
            return value(...args);
          };
        },
      });
    const h = signOnPushCore(failing(client()), reg.host);
    await assert.rejects(
      h.entry(gcrEvent({ action: 'INSERT', digest: imageOf(index.digest) })),
      DependencyError,
    );
    assert.deepEqual([h.store.claims, h.raised.length], [0, 0]);
  });
});

describe('planPlatformManifests', () => {
  const D = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
  /** A repository of manifests in memory: index digests map to the digests they list. */
  function repository(indexes: Map<string, string[]>) {
    const reads: string[] = [];
    const manifest = (digest: string): ReadManifest => {
      const children = indexes.get(digest);
      return {
        digest,
        image: `h/r@${digest}`,
        isIndex: children !== undefined,
        view: children === undefined ? { layers: [] } : { manifests: children.map((d) => ({ digest: d })) },
      };
    };
    const reader: ManifestReader = {
      read: async (digest) => {
        reads.push(digest);
        return manifest(digest);
      },
      imageOf: (digest) => `h/r@${digest}`,
    };
    return { reads, reader, manifest };
  }

  test(`up to ${MAX_MANIFESTS_PER_PUSH} distinct manifests, the pushed one included; repeats are free`, async () => {
    const children = Array.from({ length: MAX_MANIFESTS_PER_PUSH - 1 }, (_, i) => D(i + 1));
    const { reads, reader, manifest } = repository(new Map([[D(0), [...children, ...children]]]));
    const steps = await planPlatformManifests(manifest(D(0)), reader);
    assert.deepEqual(reads, children);
    assert.deepEqual(
      steps.map((s) => s.kind === 'sign' && s.digest),
      children,
    );
  });

  test('one more is refused before any child is read', async () => {
    const children = Array.from({ length: MAX_MANIFESTS_PER_PUSH }, (_, i) => D(i + 1));
    const { reads, reader, manifest } = repository(new Map([[D(0), children]]));
    await assert.rejects(planPlatformManifests(manifest(D(0)), reader), TooManyManifestsError);
    assert.deepEqual(reads, []);
  });

  test('children of nested indexes count too, each digest once across the whole tree', async () => {
    const inner = Array.from({ length: 200 }, (_, i) => D(1000 + i));
    const indexes = new Map([
      [D(0), [D(1), D(2)]],
      [D(1), inner],
      [D(2), [...inner.slice(0, 50), ...Array.from({ length: 60 }, (_, i) => D(2000 + i))]],
    ]);
    const { reader, manifest } = repository(indexes);
    await assert.rejects(planPlatformManifests(manifest(D(0)), reader), TooManyManifestsError);
    indexes.set(D(2), [...inner.slice(0, 50), ...Array.from({ length: 53 }, (_, i) => D(2000 + i))]);
    const steps = await planPlatformManifests(manifest(D(0)), repository(indexes).reader);
    assert.equal(steps.length, 255); // 2 indexes + 200 + 53
    assert.equal(new Set(steps.map((s) => s.image)).size, 255);
  });

  test('a manifest unreadable as the registry reads it, at any depth, refuses the push; a missing one does not', async () => {
    const unreadable = new Map<string, Uint8Array>([
      [D(3), Buffer.from('not JSON')],
      [D(4), Buffer.from('{"layers":[],"layers":[]}')],
      [D(5), Buffer.from('{"layers":[],"Layers":[]}')],
    ]);
    for (const [bad, reason] of [
      [D(3), /is not JSON/],
      [D(4), /has the key "layers" twice/],
      [D(5), /spells the field "layers" more than one way/],
    ] as const) {
      const { reader, manifest } = repository(
        new Map([
          [D(0), [D(1), D(2)]],
          [D(2), [D(1), bad]],
        ]),
      );
      const read = reader.read;
      reader.read = async (digest) => {
        const bytes = unreadable.get(digest);
        return bytes
          ? { ...manifest(digest), view: readManifestView(bytes, `h/r@${digest}`, digest) }
          : read(digest);
      };
      await assert.rejects(planPlatformManifests(manifest(D(0)), reader), (err: unknown) => {
        assert.ok(err instanceof UnreadableChildError && err instanceof PolicyViolationError);
        assert.deepEqual([err.details.image, err.details.child], [`h/r@${D(0)}`, `h/r@${bad}`]);
        assert.match(err.message, reason);
        return true;
      });
    }

    const nested = repository(new Map([[D(0), [D(1), D(2)]]]));
    const read = nested.reader.read;
    nested.reader.read = async (digest) =>
      digest === D(2)
        ? { ...nested.manifest(digest), isIndex: true, view: { manifests: [{ digest: 'latest' }] } }
        : read(digest);
    await assert.rejects(
      planPlatformManifests(nested.manifest(D(0)), nested.reader),
      /the manifest h\/r@sha256:0+2 in it is not a valid index \(manifests\[0\]\.digest/,
    );

    // A 404, as the core's reader reports it; any other lasting failure refuses the push whole
    // (other-tools-artifacts.test.ts).
    const missing = repository(new Map([[D(0), [D(1), D(2)]]]));
    const gone = new NotInRegistryError(`h/r@${D(2)}`);
    missing.reader.read = async (digest) =>
      digest === D(2) ? Promise.reject(gone) : missing.manifest(digest);
    assert.deepEqual(
      (await planPlatformManifests(missing.manifest(D(0)), missing.reader)).map((s) => [s.kind, s.image]),
      [
        ['sign', `h/r@${D(1)}`],
        ['refused', `h/r@${D(2)}`],
      ],
    );
  });

  test('an index inside an index is planned after its children; one more level is refused', async () => {
    const { reader, manifest } = repository(
      new Map([
        [D(0), [D(1)]],
        [D(1), [D(2)]],
      ]),
    );
    const steps = await planPlatformManifests(manifest(D(0)), reader);
    assert.deepEqual(
      steps.map((s) => [s.kind, s.image, s.index]),
      [
        ['sign', `h/r@${D(2)}`, `h/r@${D(1)}`],
        ['sign', `h/r@${D(1)}`, `h/r@${D(0)}`],
      ],
    );
    const deeper = repository(
      new Map([
        [D(0), [D(1)]],
        [D(1), [D(2)]],
        [D(2), [D(3)]],
      ]),
    );
    await assert.rejects(planPlatformManifests(deeper.manifest(D(0)), deeper.reader), IndexTooDeepError);
  });
});
