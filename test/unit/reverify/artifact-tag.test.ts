/**
 * reverifyImages lists every tag, those shaped like a signature artifact's (`sha256-<hex>`,
 * `sha256-<hex>.sig|.att|.sbom`) too: the shape is no evidence. Each such tag's manifest is read (one
 * GET, in place of the HEAD any tag costs) and judged as signOnPush judges it. A runnable image under
 * such a tag gets a verdict like any other (an unsigned one its `unsigned-image` alert); sigsentry's
 * `.sig` and fallback index, cosign's `.att` and `.sbom`, are left out, with no verdict and no alert.
 * Against a real docker-registry, behind a proxy that counts the requests.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { OCI_INDEX } from '../../../functions/registry/media-types.ts';
import { type ReverifyDeps, reverifyOnce } from '../../../functions/reverify/core.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { MemoryUnverifiedStore } from '../../../functions/reverify/unverified.ts';
import { LocalSigner } from '../../../functions/signing/local-signer.ts';
import { expectedKeyFromPem } from '../../../functions/verify/policy.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import { startProxy, startRegistry, type TestProxy, type TestRegistry } from '../../helpers/registry.ts';
import { signImage } from '../../helpers/sign-image.ts';
import {
  attachmentTag,
  DSSE_ENVELOPE,
  dsseEnvelope,
  pushAttachment,
  spdxDocument,
} from '../sign-on-push/artifact-tag-fixtures.ts';

const KEY_VERSION = 'projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1';
const SHAPED = `sha256-${'ab'.repeat(32)}`;
/** Runnable images under each shape of tag, unsigned. */
const RUNNABLE = [SHAPED, `${SHAPED}.sig`, `${SHAPED}.att`, `${SHAPED}.sbom`];
/** A runnable image under a `.sig`-shaped tag, signed. */
const SIGNED_SHAPED = `sha256-${'cd'.repeat(32)}.sig`;

describe('reverifyImages and tags shaped like signature artifacts', () => {
  let testRegistry: TestRegistry;
  let proxy: TestProxy;
  let host: string;
  let registry: RegistryClient;
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signer = new LocalSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  const store = new MemoryTagStore();
  const alerts = new RecordingAlertSink();
  /** The tags of sigsentry's and cosign's artifacts pushed below. */
  const artifacts: string[] = [];
  let deps: () => ReverifyDeps;

  const ref = (tag: string) => `${host}/team/app:${tag}`;

  before(async () => {
    testRegistry = await startRegistry();
    proxy = await startProxy(testRegistry.url);
    host = proxy.host;
    registry = new RegistryClient({ allowedHosts: [host] });
    const repo = { host, repository: 'team/app' };
    const push = async (tag: string, seed?: string) => {
      const pushed = await testRegistry.pushImage('team/app', tag, seed);
      return { ...repo, digest: pushed.digest };
    };
    const sign = (image: { host: string; repository: string; digest: string }) =>
      signImage({ registry, signer, rekorUrl: undefined }, image);

    // An image signed in both layouts (its `.sig` and fallback index tags), attested and given an
    // SBOM by cosign (its `.att` and `.sbom` tags).
    const v1 = await push('v1');
    await sign(v1);
    const hex = v1.digest.split(':')[1];
    await pushAttachment(registry, repo, attachmentTag(v1.digest, 'att'), [
      [DSSE_ENVELOPE, dsseEnvelope(v1.digest)],
    ]);
    await pushAttachment(registry, repo, attachmentTag(v1.digest, 'sbom'), [
      ['text/spdx', spdxDocument('v1')],
    ]);
    artifacts.push(`sha256-${hex}.sig`, `sha256-${hex}`, `sha256-${hex}.att`, `sha256-${hex}.sbom`);
    for (const tag of RUNNABLE) await push(tag, `runnable ${tag}`);
    const signedShaped = await push(SIGNED_SHAPED, 'runnable and signed');
    await sign(signedShaped);
    const signedHex = signedShaped.digest.split(':')[1];
    artifacts.push(`sha256-${signedHex}.sig`, `sha256-${signedHex}`);

    deps = () => ({
      registry,
      store,
      unverified: new MemoryUnverifiedStore(),
      alerts,
      trust: { logs: [] },
      ownedPolicy: {
        keys: [{ ...expectedKeyFromPem(signer.publicKeyPem), keyVersion: KEY_VERSION }],
        identities: [],
        requireTlog: false,
      },
      watch: [`${host}/team/**`],
      watchlist: [],
      keyState: async () => 'ENABLED',
      logger: createMemoryLogger(),
      concurrency: 4,
    });
  });
  after(async () => {
    await proxy.stop();
    await testRegistry.stop();
  });

  for (const pass of ['first', 'second (verdicts cached)']) {
    it(`${pass} pass: a runnable image under each shape gets a verdict; the artifacts none`, async () => {
      const listed = (await registry.listTags({ host, repository: 'team/app' })).sort();
      assert.deepEqual(
        listed,
        ['v1', ...RUNNABLE, SIGNED_SHAPED, ...artifacts].sort(),
        'what the registry lists',
      );
      const mark = proxy.requests.length;
      const summary = await reverifyOnce(deps());
      assert.deepEqual(summary.errors, []);
      assert.equal(summary.cached, pass === 'first' ? 0 : summary.tags);
      assert.deepEqual(
        summary.outcomes.map((o) => [o.ref, o.status]),
        [
          ...RUNNABLE.map((tag) => [ref(tag), 'unsigned']),
          [ref(SIGNED_SHAPED), 'valid'],
          [ref('v1'), 'valid'],
        ].sort(([a], [b]) => a!.localeCompare(b!)),
      );
      for (const tag of RUNNABLE) assert.deepEqual(alerts.openKinds(ref(tag)), ['unsigned-image'], tag);
      assert.deepEqual(alerts.openKinds(ref(SIGNED_SHAPED)), []);
      assert.equal(summary.artifacts, artifacts.length);
      assert.equal(summary.tags, summary.outcomes.length, 'the artifacts are not counted as tags');
      assert.equal(summary.byStatus.valid + summary.byStatus.unsigned, summary.tags);
      for (const tag of artifacts) {
        assert.deepEqual(alerts.openKinds(ref(tag)), [], `${tag}: no alert`);
        assert.equal(store.records.has(ref(tag)), false, `${tag}: no verdict recorded`);
      }
      // A tag of that shape costs one GET of its manifest a pass, where any other tag costs a HEAD.
      const reads = (tag: string) =>
        proxy.requests
          .slice(mark)
          .filter((r) => r.url.pathname === `/v2/team/app/manifests/${tag}`)
          .map((r) => r.method);
      // (cosign's `.att` and `.sbom` here; the `.sig` and fallback index are looked up for v1 as well.)
      for (const tag of [...RUNNABLE, artifacts[2]!, artifacts[3]!]) {
        assert.deepEqual(reads(tag), ['GET'], tag);
      }
      assert.deepEqual(reads('v1'), ['HEAD']);
    });
  }
  it('a digest-named tag moved to a platformless index that lists a runnable image is judged, not passed over as a referrers index', async () => {
    // A pipeline names a release tag after a digest; a pusher re-points it to an index whose one
    // entry has an artifactType and no platform, naming an unsigned runnable image: runtimes pull
    // that image (an entry with no platform matches any), and cosign refuses the tag.
    const tag = `sha256-${'5e'.repeat(32)}`;
    const repo = { host, repository: 'team/moved' };
    const release = await testRegistry.pushImage('team/moved', tag, 'release build');
    await signImage({ registry, signer, rekorUrl: undefined }, { ...repo, digest: release.digest });
    const moved = `${host}/team/moved:${tag}`;
    const first = await reverifyOnce(deps());
    assert.equal(first.outcomes.find((o) => o.ref === moved)?.status, 'valid');
    const evil = await testRegistry.pushImage('team/moved', 'scratch', 'attacker build');
    const index = {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {
          mediaType: evil.mediaType,
          digest: evil.digest,
          size: evil.size,
          artifactType: 'application/vnd.example.anything',
        },
      ],
    };
    await registry.putManifest(repo, tag, Buffer.from(JSON.stringify(index)), OCI_INDEX);
    const after = await reverifyOnce(deps());
    assert.deepEqual(after.errors, []);
    assert.equal(after.outcomes.find((o) => o.ref === moved)?.status, 'unsigned');
    assert.deepEqual(alerts.openKinds(moved), ['tag-moved', 'unsigned-image']);
    // sigsentry's own fallback indexes (they list bundle referrers only) are still artifacts.
    const own = `${host}/team/moved:sha256-${release.digest.split(':')[1]}`;
    assert.equal(
      after.outcomes.find((o) => o.ref === own),
      undefined,
    );
    assert.equal(store.records.has(own), false);
  });
  it('a listed image is runnable whatever its layers are labelled; an ORAS-like attachment in a fallback index is not', async () => {
    const repo = { host, repository: 'team/relabel' };
    const tag = `sha256-${'6f'.repeat(32)}`;
    const release = await testRegistry.pushImage('team/relabel', tag, 'release build');
    await signImage({ registry, signer, rekorUrl: undefined }, { ...repo, digest: release.digest });
    const ref = `${host}/team/relabel:${tag}`;
    assert.equal((await reverifyOnce(deps())).outcomes.find((o) => o.ref === ref)?.status, 'valid');
    // Its own fallback index, with an ORAS-like attachment added (a file layer, the empty config):
    // nothing in it can run, so it stays an artifact.
    const ownIndexTag = `sha256-${release.digest.split(':')[1]}`;
    const ownIndex = JSON.parse(
      Buffer.from((await registry.getManifest(repo, ownIndexTag)).bytes).toString('utf8'),
    );
    const emptyConfig = await registry.putBlob(repo, Buffer.from('{}'), 'application/vnd.oci.empty.v1+json');
    const file = await registry.putBlob(repo, Buffer.from('notes'), 'application/vnd.oci.image.layer.v1.tar');
    const oras = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.example.notes',
        config: emptyConfig,
        layers: [file],
        subject: { mediaType: release.mediaType, digest: release.digest, size: release.size },
      }),
    );
    const orasPut = await registry.putManifest(
      repo,
      'oras',
      oras,
      'application/vnd.oci.image.manifest.v1+json',
    );
    ownIndex.manifests.push({ ...orasPut.descriptor, artifactType: 'application/vnd.example.notes' });
    await registry.putManifest(repo, ownIndexTag, Buffer.from(JSON.stringify(ownIndex)), OCI_INDEX);
    // The release tag re-pointed to an index listing an unsigned image whose layer is relabelled
    // plain tar, as containerd still unpacks it.
    const evil = await testRegistry.pushImage('team/relabel', 'scratch', 'attacker build');
    const evilManifest = JSON.parse(
      Buffer.from((await registry.getManifest(repo, evil.digest)).bytes).toString('utf8'),
    );
    for (const layer of evilManifest.layers) layer.mediaType = 'application/vnd.docker.image.rootfs.diff.tar';
    const relabelled = await registry.putManifest(
      repo,
      'relabelled',
      Buffer.from(JSON.stringify(evilManifest)),
      evil.mediaType,
    );
    const index = {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ ...relabelled.descriptor, artifactType: 'application/vnd.example.anything' }],
    };
    await registry.putManifest(repo, tag, Buffer.from(JSON.stringify(index)), OCI_INDEX);
    const after = await reverifyOnce(deps());
    assert.deepEqual(after.errors, []);
    assert.equal(after.outcomes.find((o) => o.ref === ref)?.status, 'unsigned');
    assert.deepEqual(alerts.openKinds(ref), ['tag-moved', 'unsigned-image']);
    const own = `${host}/team/relabel:${ownIndexTag}`;
    assert.equal(
      after.outcomes.find((o) => o.ref === own),
      undefined,
      'the fallback index is still an artifact',
    );
    assert.deepEqual(alerts.openKinds(own), []);
  });
});
