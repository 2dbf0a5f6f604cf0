/**
 * signOnPush reads a pushed manifest as docker-registry does (Go's encoding/json: keys matched
 * case-insensitively, each matching key decoded into the one field), against a real docker-registry:
 * a key spelled two ways (one list validated by the registry, the other not), or given twice (Go
 * merges the two lists, JSON.parse keeps the last), is refused with an alert, never walked or
 * skipped; a list spelled only in a folded form is read; a child is only ever fetched by digest.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InvalidInputError, PolicyViolationError } from '../../../functions/errors.ts';
import { parseGcrMessage } from '../../../functions/events/gcr-message.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { AmbiguousFieldError } from '../../../functions/registry/go-json.ts';
import { OCI_INDEX } from '../../../functions/registry/media-types.ts';
import type { Registry } from '../../../functions/registry/registry.ts';
import { inTotoStatement } from '../../../functions/sign-on-push/core.ts';
import { InvalidIndexError, indexChildDigests } from '../../../functions/sign-on-push/manifest-view.ts';
import { signatureArtifactKind } from '../../../functions/sign-on-push/signature-artifacts.ts';
import { type PushedManifest, startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { gcrEvent, putRawManifest, signOnPushCore } from '../../helpers/sign-on-push-core.ts';

const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
const TAR = 'application/vnd.oci.image.layer.v1.tar+gzip';
const D = (c: string) => `sha256:${c.repeat(64)}`;

let reg: TestRegistry;
before(async () => {
  reg = await startRegistry();
});
after(() => reg.stop());

const client = () => new RegistryClient({ allowedHosts: [reg.host] });
const platform = (m: PushedManifest, architecture = 'amd64') => ({
  mediaType: m.mediaType,
  digest: m.digest,
  size: m.size,
  platform: { architecture, os: 'linux' },
});
/** An index's JSON text with `lists` as its manifest lists, keys spelled as given, in order. */
const indexText = (lists: Record<string, string>) =>
  `{"schemaVersion":2,"mediaType":"${OCI_INDEX}",${Object.entries(lists)
    .map(([key, list]) => `${JSON.stringify(key)}:${list}`)
    .join(',')}}`;

describe('an index whose manifest list is spelled two ways', () => {
  test('"manifests":[null] beside a valid "Manifests": refused with an alert, not a TypeError retried', async () => {
    const child = await reg.pushImage('team/app', 'null-child');
    const body = indexText({ manifests: '[null]', Manifests: JSON.stringify([platform(child)]) });
    const index = await putRawManifest(reg, 'team/app', 'null-index', OCI_INDEX, body);
    const image = `${reg.host}/team/app@${index.digest}`;
    const h = signOnPushCore(client(), reg.host);
    await h.entry(gcrEvent({ action: 'INSERT', digest: image })); // acknowledged: no redelivery
    assert.deepEqual(
      h.raised.map((a) => [a.kind, a.subject]),
      [['signing-refused', image]],
    );
    assert.match(h.raised[0]!.summary, /spells the field "manifests" more than one way/);
    assert.equal(h.store.claims, 0);
    assert.equal(h.signed.length, 0);
  });

  test('a child named "latest" is never fetched by tag nor signed: the index is refused', async () => {
    const child = await reg.pushImage('team/app', 'latest', 'tagged-latest');
    const byTag = { ...platform(child, 'arm64'), digest: 'latest' };
    const body = indexText({
      manifests: JSON.stringify([byTag]),
      Manifests: JSON.stringify([platform(child)]),
    });
    const index = await putRawManifest(reg, 'team/app', 'latest-index', OCI_INDEX, body);
    const image = `${reg.host}/team/app@${index.digest}`;
    const h = signOnPushCore(client(), reg.host, { formats: ['bundle', 'cosign'] });
    await h.entry(gcrEvent({ action: 'INSERT', digest: image, tag: `${reg.host}/team/app:latest-index` }));
    assert.deepEqual(h.gets, [index.digest], 'only the pushed index is read, by digest');
    assert.deepEqual([...h.store.records.keys()], []);
    assert.equal(h.signed.length, 0);
    assert.deepEqual(
      h.raised.map((a) => [a.kind, a.subject]),
      [['signing-refused', image]],
    );
  });
});

describe('an index with its manifest list twice under one key', () => {
  // Go decodes the second list INTO the first (a `platform` only the first gives survives); JSON.parse
  // keeps the second alone, which lists referrers only: a referrers fallback index, skipped silently.
  /** An index listing its child in two lists, the second under `key` (its JSON text, as written). */
  const lists = async (tag: string, key: string) => {
    const child = await reg.pushImage('team/app', `${tag}-child`);
    const first = JSON.stringify([platform(child, 's390x')]);
    const descriptor = { mediaType: child.mediaType, digest: child.digest, size: child.size };
    const second = JSON.stringify([{ ...descriptor, artifactType: 'application/vnd.example+json' }]);
    const body = `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":${first},${key}:${second}}`;
    return putRawManifest(reg, 'team/app', tag, OCI_INDEX, body); // docker-registry accepts it
  };

  test('Go reads it as a runnable index for s390x: refused with an alert, not skipped as a referrers index', async () => {
    const index = await lists('dup-lists', '"manifests"');
    // skopeo (Go) finds the platform the first list gave, and only that one.
    const inspect = (arch: string) =>
      reg.skopeo(
        'inspect',
        '--tls-verify=false',
        '--override-os',
        'linux',
        '--override-arch',
        arch,
        `docker://${reg.host}/team/app:dup-lists`,
      );
    await inspect('s390x');
    await assert.rejects(inspect('amd64'), /no image found in image index/);

    const image = `${reg.host}/team/app@${index.digest}`;
    const h = signOnPushCore(client(), reg.host);
    await h.entry(gcrEvent({ action: 'INSERT', digest: image, tag: `${reg.host}/team/app:dup-lists` }));
    assert.ok(!h.logger.entries.some((e) => /skipped/.test(e.message)), 'never skipped');
    assert.deepEqual(
      h.raised.map((a) => [a.kind, a.subject]),
      [['signing-refused', image]],
    );
    assert.match(h.raised[0]!.summary, /has the key "manifests" twice in one object at \$/);
    assert.deepEqual([h.store.claims, h.signed.length], [0, 0]);
  });

  test('the second key written with escapes ("\\u006danifests") is the same key: refused too', async () => {
    const index = await lists('escaped-lists', '"\\u006danifests"');
    const image = `${reg.host}/team/app@${index.digest}`;
    const h = signOnPushCore(client(), reg.host);
    await h.entry(gcrEvent({ action: 'INSERT', digest: image }));
    assert.deepEqual(
      h.raised.map((a) => [a.kind, a.subject]),
      [['signing-refused', image]],
    );
    assert.deepEqual([h.store.claims, h.signed.length], [0, 0]);
  });
});

describe('a list spelled one way, in a form only Go folds to its name', () => {
  test('"manifeſts" (LONG S) is the list the registry validated: its platforms are signed', async () => {
    const child = await reg.pushImage('team/app', 'long-s-child');
    const index = await putRawManifest(
      reg,
      'team/app',
      'long-s-index',
      OCI_INDEX,
      indexText({ 'manife\u017Fts': JSON.stringify([platform(child)]) }),
    );
    const h = signOnPushCore(client(), reg.host);
    await h.entry(gcrEvent({ action: 'INSERT', digest: `${reg.host}/team/app@${index.digest}` }));
    assert.deepEqual(
      [...h.store.records.values()].map((r) => [r.digest, r.state]).sort(),
      [
        [child.digest, 'attached'],
        [index.digest, 'attached'],
      ].sort(),
    );
    assert.deepEqual(h.raised, []);
  });
});

describe('an image manifest whose layers are spelled two ways', () => {
  test('"layers" of signatures beside the real "Layers": refused with an alert, not skipped as a signature', async () => {
    const img = await reg.pushImage('team/app', 'real');
    const m = JSON.parse(img.bytes.toString());
    const fake = { mediaType: SIMPLE_SIGNING, digest: m.config.digest, size: m.config.size };
    const body = `{"schemaVersion":2,"mediaType":"${m.mediaType}","config":${JSON.stringify(m.config)},"layers":[${JSON.stringify(fake)}],"Layers":${JSON.stringify(m.layers)}}`;
    const sneaky = await putRawManifest(reg, 'team/app', 'sneaky', m.mediaType, body);
    const image = `${reg.host}/team/app@${sneaky.digest}`;
    const h = signOnPushCore(client(), reg.host);
    await h.entry(gcrEvent({ action: 'INSERT', digest: image, tag: `${reg.host}/team/app:sneaky` }));
    assert.ok(!h.logger.entries.some((e) => /skipped/.test(e.message)), 'never skipped');
    assert.deepEqual(
      h.raised.map((a) => [a.kind, a.subject]),
      [['signing-refused', image]],
    );
    assert.match(h.raised[0]!.summary, /spells the field "layers" more than one way/);
  });
});

describe('a child that is not named by a digest', () => {
  // docker-registry refuses such an index spelled one way, so a registry serving one is stood in for.
  const servingIndex = (
    real: Registry,
    digest: string,
    manifests: unknown[],
    fetched: string[],
  ): Registry => {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
    return new Proxy(real, {
      get(target, property) {
        if (property !== 'getManifest') return Reflect.get(target, property, target).bind(target);
        return async (...args: Parameters<Registry['getManifest']>) => {
          fetched.push(args[1]);
          if (args[1] !== digest) return target.getManifest(...args);
          return { descriptor: { mediaType: OCI_INDEX, digest, size: bytes.length }, bytes };
        };
      },
    });
  };

  for (const [name, bad] of [
    ['a tag', 'latest'],
    ['null', null],
    ['no digest', undefined],
    ['upper-case hex', `sha256:${'A'.repeat(64)}`],
  ] as const) {
    test(`${name}: the index is refused naming its digest, and nothing is fetched but by digest`, async () => {
      const child = await reg.pushImage('team/app', 'latest', `served-${name}`);
      const index = D('e');
      const listed = bad === null ? null : { ...platform(child), digest: bad };
      const fetched: string[] = [];
      const h = signOnPushCore(servingIndex(client(), index, [platform(child), listed], fetched), reg.host);
      const n = parseGcrMessage(
        Buffer.from(JSON.stringify({ action: 'INSERT', digest: `${reg.host}/team/app@${index}` })),
      );
      await assert.rejects(h.core.sign(n, createMemoryLogger()), (err: unknown) => {
        assert.ok(err instanceof InvalidIndexError && err instanceof PolicyViolationError);
        assert.equal(err.details.digest, index);
        assert.match(err.message, new RegExp(`refusing to sign the index .*@${index}: manifests\\[1\\]`));
        return true;
      });
      assert.deepEqual(fetched, [index]);
      assert.equal(h.signed.length, 0);
    });
  }

  test('indexChildDigests: every listed child must be a sha256 digest', () => {
    const view = (manifests: unknown) => ({ manifests });
    assert.deepEqual(indexChildDigests(view([{ digest: D('a') }, { digest: D('b') }]), 'h/r@x', D('f')), [
      D('a'),
      D('b'),
    ]);
    assert.deepEqual(indexChildDigests(view(undefined), 'h/r@x', D('f')), []);
    for (const manifests of [[{ digest: 'latest' }], [null], [{}], [{ digest: D('a').slice(1) }], 'x', [7]]) {
      assert.throws(() => indexChildDigests(view(manifests), 'h/r@x', D('f')), InvalidIndexError);
    }
  });
});

describe('the manifest fields signatureArtifactKind reads', () => {
  const layer = (mediaType: string) => ({ mediaType, digest: D('a'), size: 1 });

  test('are read as Go reads them: a folded spelling counts', () => {
    assert.equal(signatureArtifactKind({ Layers: [layer(SIMPLE_SIGNING)] }), 'signature artifact manifest');
    assert.equal(
      signatureArtifactKind({ layers: [{ MediaType: SIMPLE_SIGNING }] }),
      'signature artifact manifest',
    );
    assert.equal(signatureArtifactKind({ layers: [{ MEDIATYPE: TAR }] }), undefined);
  });

  test('a field spelled two ways, at the top or in a layer, throws instead of being judged', () => {
    for (const manifest of [
      { layers: [layer(SIMPLE_SIGNING)], Layers: [layer(TAR)] },
      { layers: [{ ...layer(SIMPLE_SIGNING), MediaType: TAR }] },
      { mediaType: OCI_INDEX, mediaTYPE: OCI_INDEX, manifests: [] },
    ]) {
      assert.throws(() => signatureArtifactKind(manifest), AmbiguousFieldError, JSON.stringify(manifest));
    }
  });
});

test('inTotoStatement refuses an image whose digest is not a sha256 digest', () => {
  for (const digest of ['latest', '', `sha256:${'A'.repeat(64)}`]) {
    assert.throws(() => inTotoStatement({ host: 'h', repository: 'team/app', digest }), InvalidInputError);
  }
  const statement = JSON.parse(
    inTotoStatement({ host: 'h', repository: 'team/app', digest: D('c') }).toString(),
  );
  assert.deepEqual(statement.subject, [{ name: 'h/team/app', digest: { sha256: 'c'.repeat(64) } }]);
});
