/**
 * Bundle referrers listed without their artifactType. On a registry without the referrers API, cosign 3
 * writes the `sha256-<hex>` fallback index through go-containerregistry (remote/write.go commitManifest),
 * whose entry is `{mediaType, size, digest, artifactType: <the manifest's config media type>}` with no
 * annotations: `application/vnd.oci.empty.v1+json` for cosign's bundle referrer. cosign 3 reads every
 * listed referrer's manifest (pkg/cosign/verify.go GetBundles) and so finds its bundle; until 2026-12-03
 * sigsentry filtered the entries on artifactType and judged such an image unsigned (found by review).
 * Now such entries are read, at most MAX_UNTYPED_REFERRERS of them, and kept only if their manifests
 * are bundle referrers. Real docker-registry 2.8 and the Rekor emulator.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  MAX_UNTYPED_REFERRER_BYTES,
  MAX_UNTYPED_REFERRERS,
  selectReferrers,
} from '../../../functions/attach/referrer.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { digestTag, sha256Digest } from '../../../functions/registry/digest.ts';
import {
  type Descriptor,
  imageIndexSchema,
  parseManifestBytes,
} from '../../../functions/registry/manifest.ts';
import { OCI_EMPTY, OCI_INDEX, OCI_MANIFEST } from '../../../functions/registry/media-types.ts';
import type { DigestReference } from '../../../functions/registry/reference.ts';
import { LocalSigner } from '../../../functions/signing/local-signer.ts';
import type { VerifierTrust } from '../../../functions/verify/check.ts';
import { expectedKeyFromPem, type ImagePolicy } from '../../../functions/verify/policy.ts';
import { logKey } from '../../../functions/verify/trust.ts';
import { verifyImage } from '../../../functions/verify/verifier.ts';
import { countingManifestGets, observingManifestGets } from '../../helpers/manifest-gets.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';
import { signImage } from '../../helpers/sign-image.ts';

const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const SPDX = 'application/spdx+json';

describe('bundle referrers listed without their artifactType (go-containerregistry fallback index)', () => {
  let reg: TestRegistry;
  let log: TestLog;
  let client: RegistryClient;
  let trust: VerifierTrust;
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signer = new LocalSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  const policy: ImagePolicy = { keys: [expectedKeyFromPem(signer.publicKeyPem)], identities: [] };

  before(async () => {
    [reg, log] = await Promise.all([
      startRegistry(),
      startTestLog('untyped-referrers', { unrelatedFirstEntry: true }),
    ]);
    client = new RegistryClient({ allowedHosts: [reg.host] });
    trust = { logs: [logKey(log.rekor.url, log.rekor.publicKeyPem)] };
  });
  after(async () => {
    await reg?.stop();
    await log?.stop();
  });

  let n = 0;
  /** An image signed in the bundle format only, and the referrer sigsentry listed for it. */
  async function signedImage(): Promise<{ image: DigestReference; referrer: Descriptor }> {
    const repository = `untyped/app${n++}`;
    const pushed = await reg.pushImage(repository, 'v1');
    const image = { host: reg.host, repository, digest: pushed.digest };
    await signImage({ registry: client, signer, rekorUrl: log.rekor.url, formats: ['bundle'] }, image);
    const index = parseManifestBytes(
      imageIndexSchema,
      (await client.getManifest(image, digestTag(image.digest))).bytes,
      {},
    );
    assert.equal(index.manifests.length, 1);
    assert.equal(index.manifests[0]!.artifactType, BUNDLE);
    return { image, referrer: index.manifests[0]! };
  }

  /** Another referrer of the image with an empty config: an SBOM, as `cosign attach sbom` might add. */
  async function otherReferrer(image: DigestReference, i: number): Promise<Descriptor> {
    const subject = await client.resolve(image);
    const config = await client.putBlob(image, Buffer.from('{}'), OCI_EMPTY);
    const layer = await client.putBlob(image, Buffer.from(`{"sbom":${i}}`), SPDX);
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: SPDX,
        config,
        layers: [layer],
        subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      }),
    );
    const put = await client.putManifest(image, sha256Digest(bytes), bytes, OCI_MANIFEST);
    return put.descriptor;
  }

  /** The fallback index rewritten as go-containerregistry writes it: artifactType = config media type. */
  async function ggcrIndex(image: DigestReference, entries: Array<Descriptor & { artifactType?: string }>) {
    const manifests = entries.map((d) => ({
      mediaType: d.mediaType,
      size: d.size,
      digest: d.digest,
      ...(d.artifactType === undefined ? {} : { artifactType: d.artifactType }),
    }));
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
    await client.putManifest(image, digestTag(image.digest), bytes, OCI_INDEX);
  }

  it('finds a bundle listed under the empty config media type, with no annotations, as cosign 3 writes it', async () => {
    const { image, referrer } = await signedImage();
    await ggcrIndex(image, [{ ...referrer, artifactType: OCI_EMPTY }]);
    const verdict = await verifyImage({ registry: client, trust }, image, policy);
    assert.equal(verdict.status, 'valid', verdict.reasons.join('; '));
    assert.deepEqual(
      verdict.findings.map((f) => [f.layout, f.location, f.outcome]),
      [['bundle', referrer.digest, 'valid']],
    );
  });

  it('finds a bundle listed with no artifactType at all', async () => {
    const { image, referrer } = await signedImage();
    const { artifactType: _, annotations: __, ...bare } = referrer;
    await ggcrIndex(image, [bare]);
    const verdict = await verifyImage({ registry: client, trust }, image, policy);
    assert.equal(verdict.status, 'valid', verdict.reasons.join('; '));
  });

  it('passes over untyped referrers that are not bundles, without a finding', async () => {
    const { image, referrer } = await signedImage();
    const sbom1 = await otherReferrer(image, 1);
    const sbom2 = await otherReferrer(image, 2);
    await ggcrIndex(image, [
      { ...sbom1, artifactType: OCI_EMPTY },
      { ...referrer, artifactType: OCI_EMPTY },
      sbom2,
    ]);
    const verdict = await verifyImage({ registry: client, trust }, image, policy);
    assert.equal(verdict.status, 'valid', verdict.reasons.join('; '));
    assert.deepEqual(
      verdict.findings.map((f) => [f.location, f.outcome]),
      [[referrer.digest, 'valid']],
    );
  });

  it(`reads at most ${MAX_UNTYPED_REFERRERS} untyped referrers, and says how many it left unread`, async () => {
    const { image, referrer } = await signedImage();
    const others: Descriptor[] = [];
    for (let i = 0; i < MAX_UNTYPED_REFERRERS; i++) others.push(await otherReferrer(image, i));
    // The bundle comes after the bound: a hostile index can hide it, but never make sigsentry read on.
    await ggcrIndex(
      image,
      [...others, referrer].map((d) => ({ ...d, artifactType: OCI_EMPTY })),
    );
    const gets: string[] = [];
    const verdict = await verifyImage({ registry: countingManifestGets(client, gets), trust }, image, policy);
    assert.equal(verdict.status, 'unsigned');
    const read = gets.filter((g) => [...others, referrer].some((o) => o.digest === g));
    assert.deepEqual(
      read,
      others.map((o) => o.digest),
    );
    assert.deepEqual(
      verdict.findings.map((f) => f.outcome),
      ['foreign'],
    );
    assert.match(
      verdict.findings[0]!.reason ?? '',
      /1 listed referrer\(s\) without an artifactType left unread/,
    );
  });

  it('reads an untyped referrer no further than the bound, whatever size the listing gives it', async () => {
    const { image, referrer } = await signedImage();
    const subject = await client.resolve(image);
    const config = await client.putBlob(image, Buffer.from('{}'), OCI_EMPTY);
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: SPDX,
        config,
        layers: [],
        annotations: { padding: 'x'.repeat(4 * MAX_UNTYPED_REFERRER_BYTES) },
        subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      }),
    );
    const large = (await client.putManifest(image, sha256Digest(bytes), bytes, OCI_MANIFEST)).descriptor;
    // The listing understates its size, as a hostile index may.
    await ggcrIndex(image, [
      { ...large, size: 500, artifactType: OCI_EMPTY },
      { ...referrer, artifactType: OCI_EMPTY },
    ]);
    const caps = new Map<string, number | undefined>();
    const recording = observingManifestGets(client, (_repository, reference, options) => {
      caps.set(reference, options?.maxBytes);
    });
    const verdict = await verifyImage({ registry: recording, trust }, image, policy);
    assert.equal(verdict.status, 'valid', verdict.reasons.join('; '));
    assert.equal(caps.get(large.digest), MAX_UNTYPED_REFERRER_BYTES);
    await assert.rejects(
      client.getManifest(image, large.digest, { maxBytes: MAX_UNTYPED_REFERRER_BYTES }),
      /larger than/,
    );
  });
});

describe('selectReferrers', () => {
  const d = (i: number, extra: Partial<Descriptor> = {}): Descriptor => ({
    mediaType: OCI_MANIFEST,
    digest: sha256Digest(Buffer.from(`m${i}`)),
    size: 500,
    ...extra,
  });

  it('keeps the bundles listed as such, and apart the untyped image manifests, each digest once', () => {
    const typed = d(1, { artifactType: BUNDLE });
    const empty = d(2, { artifactType: OCI_EMPTY });
    const none = d(3);
    const blank = d(4, { artifactType: '' });
    const sbom = d(5, { artifactType: SPDX });
    const selected = selectReferrers([
      typed,
      empty,
      none,
      blank,
      sbom,
      empty,
      { ...typed, artifactType: OCI_EMPTY },
    ]);
    assert.deepEqual(selected.descriptors, [typed]);
    assert.deepEqual(selected.untyped, [empty, none, blank]);
    assert.equal(selected.untypedSkipped, 0);
  });

  it('passes over an index; leaves unread, and counts, a descriptor claiming a large manifest and those past the bound', () => {
    const index = d(1, { mediaType: OCI_INDEX });
    const large = d(2, { size: MAX_UNTYPED_REFERRER_BYTES + 1 });
    const many = Array.from({ length: MAX_UNTYPED_REFERRERS + 3 }, (_, i) => d(100 + i));
    const selected = selectReferrers([index, large, ...many]);
    assert.equal(selected.untyped.length, MAX_UNTYPED_REFERRERS);
    assert.deepEqual(selected.untyped, many.slice(0, MAX_UNTYPED_REFERRERS));
    assert.equal(selected.untypedSkipped, 1 + 3);
  });
});
