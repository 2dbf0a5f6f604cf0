/**
 * A tag shaped like a signature artifact's (`sha256-<hex>`, `sha256-<hex>.sig|.att|.sbom`) is no
 * evidence of one: anyone who can push may push a runnable image under it, and a pipeline naming
 * tags after digests does. signOnPush reads the manifest by digest, as for any push, and skips only
 * what the manifest shows to be an artifact: sigsentry's own `.sig` manifest, bundle referrer and
 * referrers fallback index, cosign's `.att` attestations and `.sbom` SBOMs. Everything else under
 * such a tag is signed. Against a real docker-registry.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readCosignSignatures } from '../../../functions/attach/cosign-layout.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { OCI_CONFIG, OCI_MANIFEST } from '../../../functions/registry/media-types.ts';
import type { Registry } from '../../../functions/registry/registry.ts';
import { signatureArtifactKind } from '../../../functions/sign-on-push/signature-artifacts.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { gcrEvent, signOnPushCore } from '../../helpers/sign-on-push-core.ts';
import {
  attachmentTag,
  DSSE_ENVELOPE,
  dsseEnvelope,
  pushAttachment,
  spdxDocument,
} from './artifact-tag-fixtures.ts';

const TAR_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
/** The SBOM layer media types cosign writes (specs/SBOM_SPEC.md; pkg/types/media.go, cosign 1 and 2). */
const SBOM_TYPES = [
  'text/spdx',
  'text/spdx+json',
  'text/spdx+xml',
  'spdx+json',
  'application/vnd.cyclonedx',
  'application/vnd.cyclonedx+json',
  'application/vnd.cyclonedx+xml',
  'application/vnd.syft+json',
];

let reg: TestRegistry;
before(async () => {
  reg = await startRegistry();
});
after(() => reg.stop());

/** A registry client whose every call is recorded as [method, first argument after the repository]. */
function recordingClient(calls: Array<[string, unknown]>): Registry {
  const client = new RegistryClient({ allowedHosts: [reg.host] });
  return new Proxy(client, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push([String(property), args[1]]);
        return value.apply(target, args);
      };
    },
  });
}

const skips = (h: ReturnType<typeof signOnPushCore>) =>
  h.logger.entries.filter((e) => e.message.startsWith('skipped')).map((e) => e.message);

describe('a runnable image under a tag shaped like a signature artifact', () => {
  for (const suffix of ['', '.sig', '.att', '.sbom']) {
    test(`sha256-<hex>${suffix}: signed like any push, its manifest read once by digest`, async () => {
      const tag = `sha256-${'ab'.repeat(32)}${suffix}`;
      const pushed = await reg.pushImage('team/app', tag, `runnable${suffix}`);
      const image = `${reg.host}/team/app@${pushed.digest}`;
      const h = signOnPushCore(new RegistryClient({ allowedHosts: [reg.host] }), reg.host);
      await h.entry(gcrEvent({ action: 'INSERT', digest: image, tag: `${reg.host}/team/app:${tag}` }));
      assert.deepEqual(skips(h), [], 'not skipped');
      assert.deepEqual(h.raised, [], 'no alert: nothing went wrong');
      assert.equal(h.gets[0], pushed.digest, 'the manifest was read by digest first');
      assert.equal(h.store.records.get(image)?.state, 'attached');
      assert.deepEqual(h.store.records.get(image)?.tags, [`${reg.host}/team/app:${tag}`]);
      const client = new RegistryClient({ allowedHosts: [reg.host] });
      const signatures = await readCosignSignatures(client, {
        host: reg.host,
        repository: 'team/app',
        digest: pushed.digest,
      });
      assert.equal(signatures.length, 1, 'one cosign signature');
    });
  }

  test('a tag-only message for it: the tag is resolved and the image signed', async () => {
    const tag = `sha256-${'cd'.repeat(32)}.sig`;
    const pushed = await reg.pushImage('team/app', tag, 'runnable tag-only');
    const h = signOnPushCore(new RegistryClient({ allowedHosts: [reg.host] }), reg.host);
    await h.entry(gcrEvent({ action: 'INSERT', tag: `${reg.host}/team/app:${tag}` }));
    assert.deepEqual(skips(h), []);
    assert.equal(h.store.records.get(`${reg.host}/team/app@${pushed.digest}`)?.state, 'attached');
  });
});

describe('what is an artifact by its manifest is still skipped, with the reason logged', () => {
  test("sigsentry's own pushes after a signing (.sig, bundle referrer, fallback index): one GET each, by digest (the fallback index one more for the referrer it lists), and nothing else", async () => {
    const calls: Array<[string, unknown]> = [];
    const h = signOnPushCore(recordingClient(calls), reg.host, { formats: ['bundle', 'cosign'] });
    const pushed = await reg.pushImage('team/app', 'v1', 'followed-up');
    const image = `${reg.host}/team/app@${pushed.digest}`;
    await h.entry(gcrEvent({ action: 'INSERT', digest: image, tag: `${reg.host}/team/app:v1` }));
    assert.equal(h.store.records.get(image)?.state, 'attached');

    // The `gcr` messages Artifact Registry publishes for the manifests the signing pushed: digest and
    // tag for one pushed under a tag, the digest alone for one pushed by digest.
    const manifestPuts = calls
      .filter(([method]) => method === 'putManifest')
      .map(([, reference]) => reference);
    const hex = pushed.digest.split(':')[1];
    assert.deepEqual(
      manifestPuts.map((r) => (String(r).startsWith('sha256:') ? 'the referrer, by digest' : r)).sort(),
      ['the referrer, by digest', `sha256-${hex}`, `sha256-${hex}.sig`].sort(),
    );
    const client = new RegistryClient({ allowedHosts: [reg.host] });
    const messages = [];
    for (const reference of manifestPuts as string[]) {
      const tagged = !reference.startsWith('sha256:');
      const digest = tagged
        ? (await client.resolve({ host: reg.host, repository: 'team/app', tag: reference })).digest
        : reference;
      messages.push({
        digest,
        message: {
          action: 'INSERT',
          digest: `${reg.host}/team/app@${digest}`,
          ...(tagged ? { tag: `${reg.host}/team/app:${reference}` } : {}),
        },
        reason: reference === `sha256-${hex}` ? 'referrers fallback index' : 'signature artifact manifest',
      });
    }
    const { claims } = h.store;
    const signed = h.signed.length;
    // The fallback index is a referrers index only if nothing it lists could run: the referrer it
    // lists is read too (by digest), as reverify reads it.
    const referrer = (manifestPuts as string[]).find((r) => r.startsWith('sha256:'));
    for (const [n, { digest, message, reason }] of messages.entries()) {
      calls.length = 0;
      await h.entry(gcrEvent(message, `follow-up-${n}`));
      const gets = reason === 'referrers fallback index' ? [digest, referrer] : [digest];
      assert.deepEqual(
        calls,
        gets.map((d) => ['getManifest', d]),
        `${JSON.stringify(message)}: GETs by digest`,
      );
      assert.equal(skips(h).at(-1), `skipped: ${reason}`);
    }
    assert.equal(skips(h).length, 3);
    assert.deepEqual([h.store.claims, h.signed.length, h.raised.length], [claims, signed, 0]);
    assert.deepEqual([...h.store.records.keys()], [image], 'no record but the image');
  });

  test("cosign's .att attestations under their tag: skipped as an attestation manifest", async () => {
    const target = await reg.pushImage('team/app', 'attested', 'attested');
    const repo = { host: reg.host, repository: 'team/app' };
    const client = new RegistryClient({ allowedHosts: [reg.host] });
    const tag = attachmentTag(target.digest, 'att');
    const att = await pushAttachment(client, repo, tag, [
      [DSSE_ENVELOPE, dsseEnvelope(target.digest)],
      [DSSE_ENVELOPE, dsseEnvelope(`sha256:${'0'.repeat(64)}`)],
    ]);
    const h = signOnPushCore(client, reg.host);
    await h.entry(
      gcrEvent({
        action: 'INSERT',
        digest: `${reg.host}/team/app@${att.digest}`,
        tag: `${reg.host}/team/app:${tag}`,
      }),
    );
    assert.deepEqual(skips(h), ['skipped: attestation manifest']);
    assert.deepEqual(h.gets, [att.digest]);
    assert.deepEqual([h.store.claims, h.signed.length, h.raised.length], [0, 0, 0]);
  });

  test("cosign's .sbom under its tag (cosign 1's and 2's SPDX JSON types): skipped as an SBOM manifest", async () => {
    const client = new RegistryClient({ allowedHosts: [reg.host] });
    const repo = { host: reg.host, repository: 'team/app' };
    for (const mediaType of ['text/spdx+json', 'spdx+json']) {
      const target = await reg.pushImage('team/app', `sbom-of-${mediaType}`.replace(/[/+]/g, '-'));
      const tag = attachmentTag(target.digest, 'sbom');
      const sbom = await pushAttachment(client, repo, tag, [[mediaType, spdxDocument(mediaType)]]);
      const h = signOnPushCore(client, reg.host);
      await h.entry(
        gcrEvent({
          action: 'INSERT',
          digest: `${reg.host}/team/app@${sbom.digest}`,
          tag: `${reg.host}/team/app:${tag}`,
        }),
      );
      assert.deepEqual(skips(h), ['skipped: SBOM manifest'], mediaType);
      assert.deepEqual(h.gets, [sbom.digest]);
      assert.deepEqual([h.store.claims, h.signed.length, h.raised.length], [0, 0, 0]);
    }
  });
});

describe('which manifests are attachments: every layer of one kind, nothing runnable', () => {
  const layer = (mediaType: string) => ({ mediaType, digest: `sha256:${'a'.repeat(64)}`, size: 1 });
  const manifest = (...mediaTypes: string[]) => ({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: `sha256:${'c'.repeat(64)}`, size: 233 },
    layers: mediaTypes.map(layer),
  });

  test('DSSE envelopes, in-toto statements and each SBOM type cosign writes are; a filesystem layer, another type, none, or kinds mixed are not', () => {
    assert.equal(signatureArtifactKind(manifest(DSSE_ENVELOPE)), 'attestation manifest');
    assert.equal(signatureArtifactKind(manifest(DSSE_ENVELOPE, DSSE_ENVELOPE)), 'attestation manifest');
    for (const type of SBOM_TYPES) assert.equal(signatureArtifactKind(manifest(type)), 'SBOM manifest', type);
    assert.equal(
      signatureArtifactKind(manifest('text/spdx', 'application/vnd.cyclonedx+json')),
      'SBOM manifest',
    );
    assert.equal(signatureArtifactKind(manifest(SIMPLE_SIGNING)), 'signature artifact manifest');
    assert.equal(signatureArtifactKind(manifest(DSSE_ENVELOPE, TAR_GZIP)), undefined);
    assert.equal(signatureArtifactKind(manifest(TAR_GZIP, 'text/spdx')), undefined);
    assert.equal(signatureArtifactKind(manifest('application/spdx+json')), undefined);
    // buildx's attestation manifests: in-toto statement layers, which no runtime unpacks, so nothing
    // in them could run (other-tools-artifacts.test.ts has them end to end). Once taken as not an
    // attachment because cosign does not write them; the rule is what could run, not which tool wrote it.
    assert.equal(signatureArtifactKind(manifest('application/vnd.in-toto+json')), 'attestation manifest');
    assert.equal(
      signatureArtifactKind(manifest('application/vnd.in-toto+json', DSSE_ENVELOPE)),
      'attestation manifest',
    );
    assert.equal(signatureArtifactKind(manifest('application/vnd.in-toto+json', TAR_GZIP)), undefined);
    assert.equal(signatureArtifactKind(manifest(DSSE_ENVELOPE, 'text/spdx')), undefined);
    assert.equal(signatureArtifactKind(manifest(SIMPLE_SIGNING, DSSE_ENVELOPE)), undefined);
    assert.equal(signatureArtifactKind(manifest()), undefined);
    assert.equal(
      signatureArtifactKind({ ...manifest(), layers: [{ digest: layer('x').digest }] }),
      undefined,
    );
  });
});
