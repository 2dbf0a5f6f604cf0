/**
 * The `.sig` manifest and the referrers fallback index are read as Go readers (the registry, cosign,
 * skopeo, admission controllers) read them, and rewritten only when the rewrite keeps what others wrote.
 *
 * Go's encoding/json decodes `"layers"` and `"Layers"` into one field, the later over the earlier, where
 * JSON.parse keeps two lists: sigsentry used to append to `layers`, write `Layers` back after it, and
 * report the signature attached while every Go reader saw the other list. Such a document is now
 * refused (AmbiguousManifestError), by attach (loudly, nothing written) and by verification alike; a
 * list spelled one other way (`"Layers"` alone) is read as Go reads it and written back as `layers`.
 *
 * A rewrite re-serialises other writers' entries: a key `__proto__` was dropped and an integer past 2^53
 * rounded. Such a document is refused (UnkeepableManifestError) rather than changed; verification,
 * which writes nothing, still reads it.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  attachCosignSignature,
  readCosignLayers,
  SIGNATURE_ANNOTATION,
  signatureTag,
} from '../../../functions/attach/cosign-layout.ts';
import { InProcessSubjectLock } from '../../../functions/attach/lock.ts';
import { attachBundleReferrer, listFallbackIndexReferrers } from '../../../functions/attach/referrer.ts';
import {
  buildSimpleSigningPayload,
  SIMPLE_SIGNING_MEDIA_TYPE,
} from '../../../functions/attach/simple-signing.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { digestTag, sha256Digest } from '../../../functions/registry/digest.ts';
import { RegistryIntegrityError } from '../../../functions/registry/errors.ts';
import { OCI_CONFIG, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST } from '../../../functions/registry/media-types.ts';
import type { DigestReference } from '../../../functions/registry/reference.ts';
import type { Registry } from '../../../functions/registry/registry.ts';
import { collectSignatures } from '../../../functions/verify/sources.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { gcrEvent, signOnPushCore } from '../../helpers/sign-on-push-core.ts';
import { unsignedBundleFor } from '../../helpers/unsigned-bundle.ts';

let registry: TestRegistry;
let client: RegistryClient;
before(async () => {
  registry = await startRegistry();
  client = new RegistryClient({ allowedHosts: [registry.host] });
});
after(async () => {
  await registry?.stop();
});

async function pushed(repository: string): Promise<DigestReference> {
  const image = await registry.pushImage(repository, 'v1');
  return { host: registry.host, repository, digest: image.digest };
}

/** The client, with every manifest PUT counted: "nothing written" is no PUT at all. */
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

/**
 * Another signer's signature layer, its payload pushed, as JSON text written as cosign writes it
 * (go-containerregistry's field order: `size` before `digest`).
 */
async function foreignLayerText(image: DigestReference, extra = ''): Promise<string> {
  const payload = buildSimpleSigningPayload(image, { by: 'another signer' });
  const blob = await client.putBlob(image, payload, SIMPLE_SIGNING_MEDIA_TYPE);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signature = sign('sha256', payload, privateKey).toString('base64');
  return `{"mediaType":"${SIMPLE_SIGNING_MEDIA_TYPE}","size":${blob.size},"digest":"${blob.digest}","annotations":{${extra}"${SIGNATURE_ANNOTATION}":"${signature}"}}`;
}

/** Push `text` as the `.sig` manifest of `image`; its digest. */
async function putSig(image: DigestReference, text: string): Promise<string> {
  const put = await client.putManifest(image, signatureTag(image.digest), Buffer.from(text), OCI_MANIFEST);
  return put.descriptor.digest;
}

async function configText(image: DigestReference): Promise<string> {
  return JSON.stringify(await client.putBlob(image, Buffer.from('{"by":"another signer"}'), OCI_CONFIG));
}

function ours(image: DigestReference) {
  const payload = buildSimpleSigningPayload(image);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { payload, signature: sign('sha256', payload, privateKey).toString('base64') };
}

/** A refusal of a document Go readers read otherwise, naming its digest and the field. */
function ambiguous(digest: string, field: string) {
  return (err: unknown) => {
    assert.ok(err instanceof RegistryIntegrityError, String(err));
    assert.equal(err.name, 'AmbiguousManifestError');
    assert.equal(err.retryable, false);
    assert.ok(err.message.includes(digest), err.message);
    assert.ok(err.message.includes(JSON.stringify(field)), err.message);
    assert.equal(err.details['manifestDigest'], digest);
    return true;
  };
}

/** A refusal of a document a rewrite would change, naming its digest and what would change. */
function unkeepable(digest: string, what: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof RegistryIntegrityError, String(err));
    assert.equal(err.name, 'UnkeepableManifestError');
    assert.ok(err.message.includes(digest), err.message);
    assert.match(err.message, what);
    return true;
  };
}

describe('a `.sig` manifest Go readers read otherwise', () => {
  const variants: Array<{ name: string; field: string; text: (layer: string, config: string) => string }> = [
    {
      name: '`layers` and `Layers`',
      field: 'layers',
      text: (layer, config) =>
        `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${config},"layers":[${layer}],"Layers":[${layer}]}`,
    },
    {
      name: '`layers` twice',
      field: 'layers',
      text: (layer, config) =>
        `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${config},"layers":[${layer}],"layers":[]}`,
    },
    {
      name: 'a layer with `mediaType` and `MediaType`',
      field: 'mediaType',
      text: (layer, config) =>
        `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${config},"layers":[${layer.replace('{', '{"MediaType":"application/octet-stream",')}]}`,
    },
  ];
  for (const [i, variant] of variants.entries()) {
    test(`${variant.name}: the attach is refused and nothing is written`, async () => {
      const image = await pushed(`ambiguous/sig${i}`);
      const text = variant.text(await foreignLayerText(image), await configText(image));
      const sigDigest = await putSig(image, text);
      const { registry: counted, puts } = counting();
      await assert.rejects(
        attachCosignSignature({ registry: counted, lock: new InProcessSubjectLock() }, image, ours(image)),
        ambiguous(sigDigest, variant.field),
      );
      assert.deepEqual(puts, [], 'a manifest was written');
      const now = await client.getManifest(image, signatureTag(image.digest));
      assert.equal(now.descriptor.digest, sigDigest);
    });
  }

  test('verification reads it as attach does: the `.sig` is a finding, not two signatures', async () => {
    const image = await pushed('ambiguous/verify');
    const layer = await foreignLayerText(image);
    const sigDigest = await putSig(
      image,
      `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${await configText(image)},"layers":[${layer}],"Layers":[${layer}]}`,
    );
    await assert.rejects(readCosignLayers(client, image, sigDigest), ambiguous(sigDigest, 'layers'));
    const sources = await collectSignatures(client, image);
    assert.equal(sources.fingerprint.signatureManifest, sigDigest);
    assert.deepEqual(sources.cosign, []);
    assert.match(sources.cosignError ?? '', /spells the field "layers" more than one way/);
  });

  test('signOnPush alerts it (signing-failed), as it does an unreadable `.sig`, and replaces nothing', async () => {
    const image = await pushed('team/ambiguous');
    const layer = await foreignLayerText(image);
    const sigDigest = await putSig(
      image,
      `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${await configText(image)},"layers":[${layer}],"Layers":[${layer}]}`,
    );
    const core = signOnPushCore(client, registry.host, { formats: ['cosign'] });
    const named = `${image.host}/${image.repository}@${image.digest}`;
    await core.entry(gcrEvent({ action: 'INSERT', digest: named })).catch(() => {});
    assert.equal(core.raised.length, 1, 'one alert');
    const [alert] = core.raised;
    assert.equal(alert?.kind, 'signing-failed');
    assert.equal(alert?.severity, 'HIGH');
    assert.match(alert?.summary ?? '', /spells the field "layers" more than one way/);
    assert.notEqual(core.store.records.get(named)?.state, 'attached');
    assert.equal((await client.getManifest(image, signatureTag(image.digest))).descriptor.digest, sigDigest);
  });

  test('`Layers` spelled that way alone is the list Go reads: appended to, written back as `layers`', async () => {
    const image = await pushed('ambiguous/capital');
    const layer = await foreignLayerText(image);
    await putSig(
      image,
      `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${await configText(image)},"Layers":[${layer}]}`,
    );
    const result = await attachCosignSignature(
      { registry: client, lock: new InProcessSubjectLock() },
      image,
      ours(image),
    );
    assert.equal(result.appended, true);
    const raw = (await client.getManifest(image, signatureTag(image.digest))).bytes.toString();
    assert.ok(!raw.includes('"Layers"'), raw);
    assert.ok(raw.includes(`"layers":[${layer},`), raw);
    const goView = JSON.parse(
      await registry.skopeo(
        'inspect',
        '--tls-verify=false',
        `docker://${registry.host}/${image.repository}:${result.tag}`,
      ),
    );
    assert.deepEqual(goView.Layers, [JSON.parse(layer).digest, result.layer.digest]);
  });

  test('a well-formed `.sig` of another signer is appended to, its bytes kept', async () => {
    const image = await pushed('ambiguous/wellformed');
    const layer = await foreignLayerText(image, '"io.example/tool":"v1","A":"x","a":"y",');
    const withUrls = layer.replace('{', '{"urls":["https://example.com/x"],');
    await putSig(
      image,
      `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${await configText(image)},"layers":[${withUrls}],"annotations":{"io.example/by":"another signer"},"io.example/unknown":{"n":1}}`,
    );
    const result = await attachCosignSignature(
      { registry: client, lock: new InProcessSubjectLock() },
      image,
      ours(image),
    );
    assert.equal(result.appended, true);
    const raw = (await client.getManifest(image, signatureTag(image.digest))).bytes.toString();
    assert.ok(raw.includes(`"layers":[${withUrls},`), raw);
    assert.ok(raw.includes('"annotations":{"io.example/by":"another signer"}'), raw);
    assert.ok(raw.includes('"io.example/unknown":{"n":1}'), raw);
  });
});

describe('a referrers fallback index Go readers read otherwise', () => {
  test('`manifests` and `Manifests`: the attach is refused and nothing is written', async () => {
    const image = await pushed('ambiguous/index');
    const text = `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":[],"Manifests":[]}`;
    const put = await client.putManifest(image, digestTag(image.digest), Buffer.from(text), OCI_INDEX);
    const indexDigest = put.descriptor.digest;
    const { registry: counted, puts } = counting();
    await assert.rejects(
      attachBundleReferrer(
        { registry: counted, lock: new InProcessSubjectLock() },
        image,
        unsignedBundleFor(image, 'a'),
      ),
      ambiguous(indexDigest, 'manifests'),
    );
    assert.deepEqual(puts, [], 'a manifest was written (the referrer or the index)');
    assert.equal((await client.getManifest(image, digestTag(image.digest))).descriptor.digest, indexDigest);

    // Verification reads it the same way: a finding about the index, no referrers listed.
    await assert.rejects(
      listFallbackIndexReferrers(client, image, indexDigest),
      ambiguous(indexDigest, 'manifests'),
    );
    const sources = await collectSignatures(client, image);
    assert.deepEqual(
      sources.bundles.map((b) => b.location),
      [digestTag(image.digest)],
    );
    assert.match(sources.bundles[0]?.error ?? '', /spells the field "manifests" more than one way/);
  });

  test('`Manifests` spelled that way alone is the list Go reads: kept and appended to as `manifests`', async () => {
    const image = await pushed('ambiguous/index-capital');
    // Another tool's referrer (an artifact: the empty config, one file layer). A runnable image listed
    // there would make the index foreign content, never appended to (attach/foreign-tag-content.test.ts).
    const file = await client.putBlob(image, Buffer.from('an attached file'), 'application/example');
    const empty = await client.putBlob(image, Buffer.from('{}'), OCI_EMPTY);
    const artifact = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: 'application/example',
        config: empty,
        layers: [{ ...file, mediaType: 'application/example' }],
      }),
    );
    const other = (await client.putManifest(image, sha256Digest(artifact), artifact, OCI_MANIFEST))
      .descriptor;
    const entry = `{"mediaType":"${OCI_MANIFEST}","digest":"${other.digest}","size":${other.size},"artifactType":"application/example"}`;
    const text = `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","Manifests":[${entry}]}`;
    await client.putManifest(image, digestTag(image.digest), Buffer.from(text), OCI_INDEX);
    const result = await attachBundleReferrer(
      { registry: client, lock: new InProcessSubjectLock() },
      image,
      unsignedBundleFor(image, 'b'),
    );
    assert.equal(result.attached, true);
    const raw = (await client.getManifest(image, digestTag(image.digest))).bytes.toString();
    assert.ok(!raw.includes('"Manifests"'), raw);
    assert.ok(raw.includes(`"manifests":[${entry},`), raw);
    assert.ok(raw.includes(result.manifest.digest), raw);
  });
});

describe('a document a rewrite would change', () => {
  test('a `.sig` whose layer has an annotation `__proto__`: refused, nothing written', async () => {
    const image = await pushed('unkept/proto');
    const layer = await foreignLayerText(image, '"__proto__":"tool-metadata",');
    const sigDigest = await putSig(
      image,
      `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${await configText(image)},"layers":[${layer}]}`,
    );
    const { registry: counted, puts } = counting();
    await assert.rejects(
      attachCosignSignature({ registry: counted, lock: new InProcessSubjectLock() }, image, ours(image)),
      unkeepable(sigDigest, /a key "__proto__"/),
    );
    assert.deepEqual(puts, []);
    assert.equal((await client.getManifest(image, signatureTag(image.digest))).descriptor.digest, sigDigest);
  });

  test('a `.sig` with an integer past 2^53: refused, nothing written; verification still reads it', async () => {
    const image = await pushed('unkept/bigint');
    const layer = await foreignLayerText(image);
    const sigDigest = await putSig(
      image,
      `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${await configText(image)},"layers":[${layer}],"io.example/sequence":18446744073709551615}`,
    );
    const { registry: counted, puts } = counting();
    await assert.rejects(
      attachCosignSignature({ registry: counted, lock: new InProcessSubjectLock() }, image, ours(image)),
      unkeepable(sigDigest, /the number 18446744073709551615 \(written back as 18446744073709552000\)/),
    );
    assert.deepEqual(puts, []);
    assert.equal((await client.getManifest(image, signatureTag(image.digest))).descriptor.digest, sigDigest);
    // Nothing is rewritten when verifying: the other signer's signature is read as before.
    const read = await readCosignLayers(client, image, sigDigest);
    assert.equal(read.signatures.length, 1);
  });

  test('a fallback index with an integer past 2^53: refused, nothing written', async () => {
    const image = await pushed('unkept/index');
    const text = `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":[],"io.example/sequence":9007199254740993}`;
    const put = await client.putManifest(image, digestTag(image.digest), Buffer.from(text), OCI_INDEX);
    assert.equal(put.descriptor.digest, sha256Digest(Buffer.from(text)));
    const { registry: counted, puts } = counting();
    await assert.rejects(
      attachBundleReferrer(
        { registry: counted, lock: new InProcessSubjectLock() },
        image,
        unsignedBundleFor(image, 'c'),
      ),
      unkeepable(put.descriptor.digest, /the number 9007199254740993/),
    );
    assert.deepEqual(puts, []);
    assert.equal(
      (await client.getManifest(image, digestTag(image.digest))).descriptor.digest,
      put.descriptor.digest,
    );
  });
});
