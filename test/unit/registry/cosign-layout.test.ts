import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import {
  attachCosignSignature,
  type CosignSignature,
  readCosignSignatures,
  SIGNATURE_ANNOTATION,
  signatureTag,
} from '../../../functions/attach/cosign-layout.ts';
import { InProcessSubjectLock } from '../../../functions/attach/lock.ts';
import { parseRekorBundle } from '../../../functions/attach/rekor-bundle.ts';
import {
  buildSimpleSigningPayload,
  SIMPLE_SIGNING_MEDIA_TYPE,
} from '../../../functions/attach/simple-signing.ts';
import { PolicyViolationError } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { RegistryNotFoundError } from '../../../functions/registry/errors.ts';
import { imageManifestSchema, parseManifestBytes } from '../../../functions/registry/manifest.ts';
import { OCI_CONFIG, OCI_MANIFEST } from '../../../functions/registry/media-types.ts';
import type { DigestReference } from '../../../functions/registry/reference.ts';
import type { Registry } from '../../../functions/registry/registry.ts';
import { lapsedLock } from '../../helpers/lapsed-lock.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';

const fixtures = new URL('./fixtures/', import.meta.url);

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

function key(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

function signed(
  image: DigestReference,
  privateKey: KeyObject,
  optional?: Record<string, unknown>,
): CosignSignature {
  const payload = buildSimpleSigningPayload(image, optional);
  return { payload, signature: sign('sha256', payload, privateKey).toString('base64') };
}

describe('cosign legacy layout', () => {
  test('an attached signature reads back and verifies; skopeo sees the .sig manifest', async () => {
    const image = await pushed('sig/one');
    const { privateKey, publicKey } = key();
    const layer = JSON.parse(await readFile(new URL('cosign-sig-layer.EXTRACTED.txt', fixtures), 'utf8'));
    const bundle = parseRekorBundle(layer.annotations['dev.sigstore.cosign/bundle']);
    assert.ok(bundle);
    const sig = { ...signed(image, privateKey), bundle };
    const lock = new InProcessSubjectLock();

    const result = await attachCosignSignature({ registry: client, lock }, image, sig);
    assert.equal(result.tag, signatureTag(image.digest));
    assert.equal(result.appended, true);

    const read = await readCosignSignatures(client, image);
    assert.equal(read.length, 1);
    const [one] = read;
    assert.ok(one);
    assert.deepEqual(Buffer.from(one.payload), Buffer.from(sig.payload));
    assert.equal(verify('sha256', one.payload, publicKey, Buffer.from(one.signature ?? '', 'base64')), true);
    assert.deepEqual(one.bundle, bundle);

    const inspected = JSON.parse(
      await registry.skopeo(
        'inspect',
        '--tls-verify=false',
        `docker://${registry.host}/sig/one:${result.tag}`,
      ),
    );
    assert.equal(inspected.Digest, result.manifest.digest);
    // skopeo 1.9 reports no per-layer annotations; those are checked in the raw manifest below.
    assert.deepEqual(inspected.Layers, [result.layer.digest]);
    assert.ok(inspected.RepoTags.includes(result.tag));
    const raw = await registry.skopeo(
      'inspect',
      '--raw',
      '--tls-verify=false',
      `docker://${registry.host}/sig/one:${result.tag}`,
    );
    const manifest = parseManifestBytes(imageManifestSchema, Buffer.from(raw), {});
    assert.equal(manifest.mediaType, OCI_MANIFEST);
    assert.equal(manifest.config.mediaType, OCI_CONFIG);
    assert.equal(manifest.layers[0]?.mediaType, SIMPLE_SIGNING_MEDIA_TYPE);
    assert.equal(manifest.layers[0]?.annotations?.[SIGNATURE_ANNOTATION], sig.signature);
    assert.equal(
      manifest.layers[0]?.annotations?.['dev.sigstore.cosign/bundle'],
      layer.annotations['dev.sigstore.cosign/bundle'],
    );
  });

  test('a second signature is appended, not replacing the first; re-attaching is idempotent', async () => {
    const image = await pushed('sig/two');
    const lock = new InProcessSubjectLock();
    const first = signed(image, key().privateKey);
    const second = signed(image, key().privateKey, { signer: 'second' });

    await attachCosignSignature({ registry: client, lock }, image, first);
    const afterSecond = await attachCosignSignature({ registry: client, lock }, image, second);
    assert.equal(afterSecond.appended, true);
    const again = await attachCosignSignature({ registry: client, lock }, image, first);
    assert.equal(again.appended, false);
    assert.equal(again.manifest.digest, afterSecond.manifest.digest);

    const read = await readCosignSignatures(client, image);
    assert.deepEqual(
      read.map((s) => s.signature),
      [first.signature, second.signature],
    );
  });

  test('signatures other tools wrote are kept byte-for-byte, unknown annotations included', async () => {
    const image = await pushed('sig/foreign');
    const foreignLayer = JSON.parse(
      await readFile(new URL('cosign-sig-layer.EXTRACTED.txt', fixtures), 'utf8'),
    );
    await client.putBlob(
      image,
      await readFile(new URL('cosign-simplesigning-payload.RECONSTRUCTED.txt', fixtures)),
      SIMPLE_SIGNING_MEDIA_TYPE,
    );
    const config = await client.putBlob(image, Buffer.from('{"written":"by cosign"}'), OCI_CONFIG);
    const foreign = { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [foreignLayer] };
    await client.putManifest(
      image,
      signatureTag(image.digest),
      Buffer.from(JSON.stringify(foreign)),
      OCI_MANIFEST,
    );

    const ours = signed(image, key().privateKey);
    await attachCosignSignature({ registry: client, lock: new InProcessSubjectLock() }, image, ours);
    const manifest = parseManifestBytes(
      imageManifestSchema,
      (await client.getManifest(image, signatureTag(image.digest))).bytes,
      {},
    );
    assert.equal(manifest.layers.length, 2);
    assert.deepEqual(manifest.layers[0], foreignLayer);
    assert.equal(manifest.layers[1]?.annotations?.[SIGNATURE_ANNOTATION], ours.signature);
  });

  test('10 parallel attachers sharing a lock: every signature survives', async () => {
    const image = await pushed('sig/parallel');
    const lock = new InProcessSubjectLock();
    const sigs = Array.from({ length: 10 }, (_, i) => signed(image, key().privateKey, { n: i }));
    // One client per attacher, as separate signers would have.
    await Promise.all(
      sigs.map((sig) =>
        attachCosignSignature(
          { registry: new RegistryClient({ allowedHosts: [registry.host] }), lock },
          image,
          sig,
        ),
      ),
    );
    const read = await readCosignSignatures(client, image);
    assert.deepEqual(new Set(read.map((s) => s.signature)), new Set(sigs.map((s) => s.signature)));
    assert.equal(read.length, 10);
  });

  test('a concurrent writer outside the lock that overwrites the tag is detected and merged over', async () => {
    const image = await pushed('sig/overwritten');
    const rival = signed(image, key().privateKey, { rival: true });
    const ours = signed(image, key().privateKey);
    const logger = createMemoryLogger();
    // The rival read the tag before we wrote (it was empty) and writes its own manifest just after our
    // first write: exactly the lost update of cosign's read-modify-write.
    let rivalWrote = false;
    const racing = bindAll(
      {
        putManifest: async (...args) => {
          const result = await client.putManifest(...args);
          if (!rivalWrote && args[1] === signatureTag(image.digest)) {
            rivalWrote = true;
            const payload = await client.putBlob(image, rival.payload, SIMPLE_SIGNING_MEDIA_TYPE);
            const config = await client.putBlob(image, Buffer.from('{"rival":true}'), OCI_CONFIG);
            const layer = { ...payload, annotations: { [SIGNATURE_ANNOTATION]: rival.signature } };
            const manifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] };
            await client.putManifest(image, args[1], Buffer.from(JSON.stringify(manifest)), OCI_MANIFEST);
          }
          return result;
        },
      },
      client,
    );
    const result = await attachCosignSignature(
      { registry: racing, lock: new InProcessSubjectLock(), logger },
      image,
      ours,
    );
    assert.equal(rivalWrote, true);
    assert.equal(result.appended, true);
    const read = await readCosignSignatures(client, image);
    assert.deepEqual(new Set(read.map((s) => s.signature)), new Set([rival.signature, ours.signature]));
    assert.ok(logger.entries.some((e) => e.severity === 'WARNING' && /concurrent writer/.test(e.message)));
  });

  test('a holder whose hold fails its check (its lease lapsed) writes no .sig manifest', async () => {
    const image = await pushed('sig/lapsed');
    const { lock, error: lapsed } = lapsedLock(`${image.host}/${image.repository}@${image.digest}`);
    await assert.rejects(
      attachCosignSignature({ registry: client, lock }, image, signed(image, key().privateKey)),
      (err: unknown) => err === lapsed,
    );
    await assert.rejects(client.getManifest(image, signatureTag(image.digest)), RegistryNotFoundError);
  });

  test('a payload that signs another image is refused and nothing is written', async () => {
    const image = await pushed('sig/refused');
    const other = await pushed('sig/other');
    const sig = signed(other, key().privateKey);
    await assert.rejects(
      attachCosignSignature({ registry: client, lock: new InProcessSubjectLock() }, image, sig),
      PolicyViolationError,
    );
    await assert.rejects(client.getManifest(image, signatureTag(image.digest)), RegistryNotFoundError);
    assert.deepEqual(await readCosignSignatures(client, image), []);
  });
});

/** The client's methods, bound, on a plain object (so a spread copy still works as a Registry). */
function bindAll(overrides: Partial<Registry>, target: RegistryClient): Registry {
  const bound = (name: keyof Registry) => (target[name] as (...a: unknown[]) => unknown).bind(target);
  const names: Array<keyof Registry> = [
    'resolve',
    'getManifest',
    'putManifest',
    'deleteManifest',
    'hasBlob',
    'getBlob',
    'putBlob',
    'listTags',
    'catalog',
    'referrers',
  ];
  return Object.fromEntries(names.map((n) => [n, overrides[n] ?? bound(n)])) as unknown as Registry;
}
