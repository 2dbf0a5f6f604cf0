/**
 * A junk bundle referrer, which anyone who can push may attach without any key, does not keep a tag's
 * last verdict. Found by review: a bundle whose statement's predicateType was `{"toString":1}` made
 * checkBundleSignature throw (String() of it), the tag an error of the pass, and "its last verdict
 * stands": prod moved to an unsigned image stayed `valid` at its old digest, with neither
 * unsigned-image nor tag-moved, until verification-stale a day later. Now the referrer is another
 * signer's attestation (`foreign`) and the tag is judged as it is without it. Real docker-registry
 * and the Rekor emulator.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { bundleToJSON } from '@sigstore/bundle';
import { DSSEBundleBuilder, RekorWitness } from '@sigstore/sign';
import { digestTag, sha256Digest } from '../../../functions/registry/digest.ts';
import type { DigestReference } from '../../../functions/registry/reference.ts';
import { reverifyOnce } from '../../../functions/reverify/core.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { IN_TOTO_PAYLOAD_TYPE } from '../../../functions/sign-on-push/core.ts';
import { LocalSigner } from '../../../functions/signing/local-signer.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import { type ReverifyHarness, reverifyHarness, signedProd, statusOf } from '../../helpers/reverify.ts';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

/**
 * Attaches to `image`, through the `sha256-<hex>` fallback index, a bundle referrer signed by a key
 * nobody expects and logged, whose in-toto statement is `statement`. Returns the referrer's digest.
 */
async function attachJunkReferrer(
  harness: ReverifyHarness,
  image: DigestReference,
  statement: unknown,
): Promise<string> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const anyone = new LocalSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  const bundle = await new DSSEBundleBuilder({
    signer: anyone,
    witnesses: [
      new RekorWitness({ rekorBaseURL: harness.rekor.url, entryType: 'dsse', fetchOnConflict: true }),
    ],
  }).create({ data: Buffer.from(JSON.stringify(statement)), type: IN_TOTO_PAYLOAD_TYPE });
  const { registry } = harness;
  const blob = await registry.putBlob(image, Buffer.from(JSON.stringify(bundleToJSON(bundle))), BUNDLE);
  const empty = await registry.putBlob(image, Buffer.from('{}'), OCI_EMPTY);
  const subject = await registry.resolve(image);
  const referrer = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: BUNDLE,
      config: { mediaType: OCI_EMPTY, digest: empty.digest, size: empty.size },
      layers: [{ mediaType: BUNDLE, digest: blob.digest, size: blob.size }],
      subject: { mediaType: subject.mediaType, digest: image.digest, size: subject.size },
    }),
  );
  const digest = sha256Digest(referrer);
  await registry.putManifest(image, digest, referrer, OCI_MANIFEST);
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest, size: referrer.length, artifactType: BUNDLE }],
    }),
  );
  await registry.putManifest(image, digestTag(image.digest), index, OCI_INDEX);
  return digest;
}

describe('a junk bundle referrer on the image a tag moved to', () => {
  const harness = reverifyHarness('junk-bundle-referrer');
  const store = new MemoryTagStore();
  const alerts = new RecordingAlertSink();
  const deps = () => harness.deps({ store, alerts, watch: [`${harness.host}/team/**`] });

  it('prod moved to an unsigned image with a predicateType {"toString":1} referrer: unsigned, tag-moved', async () => {
    const { moveTo, tag, signed } = await signedProd(harness, deps, 'team/app');

    // The attacker (push access, no key) pushes an unsigned image and a junk referrer for it.
    const evil = await harness.push('team/app', 'scratch', 'unsigned payload');
    const referrer = await attachJunkReferrer(harness, evil, {
      _type: 'https://in-toto.io/Statement/v1',
      predicateType: { toString: 1 },
      subject: [],
    });
    await moveTo(evil);

    const mark = alerts.calls.length;
    const summary = await reverifyOnce(deps());
    assert.deepEqual(summary.errors, []);
    assert.equal(statusOf(summary, tag), 'unsigned');
    assert.equal(statusOf(summary, harness.ref('team/app', 'scratch')), 'unsigned');
    const record = store.records.get(tag)!;
    assert.equal(record.status, 'unsigned');
    assert.equal(record.digest, evil.digest);
    assert.notEqual(record.digest, signed.digest);
    assert.deepEqual(
      record.findings.map((f) => [f.location, f.outcome, f.reason]),
      [[referrer, 'foreign', 'an attestation ({"toString":1}), not a signature']],
    );
    const raised = alerts.raisedSince(mark).filter((a) => a.subject === tag);
    assert.deepEqual(raised.map((a) => a.kind).sort(), ['tag-moved', 'unsigned-image']);
    assert.deepEqual(alerts.openKinds(tag), ['tag-moved', 'unsigned-image']);

    // As without the referrer: the same image in a repository of its own.
    const control = await harness.push('team/control', 'prod', 'unsigned payload');
    assert.equal(control.digest, evil.digest);
    const ctl = await reverifyOnce(
      harness.deps({
        store: new MemoryTagStore(),
        alerts: new RecordingAlertSink(),
        watch: [`${harness.host}/team/control`],
      }),
    );
    assert.equal(statusOf(ctl, harness.ref('team/control', 'prod')), 'unsigned');
  });
});
