import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { RekorServer } from '../../../emulators/rekor/server.ts';
import { signatureTag } from '../../../functions/attach/cosign-layout.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { type ReverifyDeps, reverifyOnce } from '../../../functions/reverify/core.ts';
import { InclusionRechecker } from '../../../functions/reverify/inclusion.ts';
import { inShard } from '../../../functions/reverify/inventory.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { MemoryUnverifiedStore } from '../../../functions/reverify/unverified.ts';
import { LocalSigner } from '../../../functions/signing/local-signer.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import { expectedKeyFromPem } from '../../../functions/verify/policy.ts';
import { logKey } from '../../../functions/verify/trust.ts';
import { appendFillerEntry } from '../../helpers/hashedrekord.ts';
import { startProxy, startRegistry, type TestProxy, type TestRegistry } from '../../helpers/registry.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';
import { signImage } from '../verify/sign.ts';
import { flipSignatures, rewriteSignatureManifest } from '../verify/tamper.ts';
import { RecordingAlertSink } from './recording-sink.ts';

const KEY_VERSION = 'projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1';

describe('reverifyOnce', () => {
  let testRegistry: TestRegistry;
  let proxy: TestProxy;
  let rekor: RekorServer;
  let log: TestLog;
  let registry: RegistryClient;
  let host: string;
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signer = new LocalSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  const store = new MemoryTagStore();
  const alerts = new RecordingAlertSink();
  let keyState = 'ENABLED';
  let logRequests = 0;
  let deps: () => ReverifyDeps;

  before(async () => {
    testRegistry = await startRegistry();
    proxy = await startProxy(testRegistry.url);
    host = proxy.host;
    log = await startTestLog('reverify-rekor', { unrelatedFirstEntry: true });
    rekor = log.rekor;
    registry = new RegistryClient({ allowedHosts: [host] });
    const logClient = new RekorV1Client({ baseUrl: rekor.url, logKey: rekor.publicKeyPem });
    deps = () => ({
      registry,
      store,
      unverified: new MemoryUnverifiedStore(),
      alerts,
      trust: { logs: [logKey(rekor.url, rekor.publicKeyPem)] },
      ownedPolicy: {
        keys: [{ ...expectedKeyFromPem(signer.publicKeyPem), keyVersion: KEY_VERSION }],
        identities: [],
      },
      watch: [`${host}/team/**`],
      watchlist: [],
      keyState: async () => keyState,
      inclusion: new InclusionRechecker({
        client: logClient,
        baseUrl: rekor.url,
        fetch: (input, init) => {
          logRequests++;
          return fetch(input, init);
        },
      }),
      logger: createMemoryLogger(),
      concurrency: 4,
    });
  });
  after(async () => {
    await proxy.stop();
    await testRegistry.stop();
    await log.stop();
  });

  const ref = (repository: string, tag: string) => `${host}/${repository}:${tag}`;
  const push = async (repository: string, tag: string, seed?: string) => {
    const pushed = await testRegistry.pushImage(repository, tag, seed);
    return { host, repository, digest: pushed.digest };
  };
  const statusOf = (summary: Awaited<ReturnType<typeof reverifyOnce>>, r: string) =>
    summary.outcomes.find((o) => o.ref === r)?.status;

  it('walks the watched repositories, verifies each tag and alerts on the unsigned one', async () => {
    const signed = await push('team/app', 'v1');
    await signImage({ registry, signer, rekorUrl: rekor.url }, signed);
    await push('team/app', 'unsigned');
    await push('other/app', 'v1'); // not watched
    const entryReads = logRequests;
    const summary = await reverifyOnce(deps());
    assert.deepEqual(summary.errors, []);
    assert.ok(
      logRequests > entryReads,
      "the signatures' log entries were read to prove them in the current tree",
    );
    assert.deepEqual(
      summary.outcomes.map((o) => [o.ref, o.status]),
      [
        [ref('team/app', 'unsigned'), 'unsigned'],
        [ref('team/app', 'v1'), 'valid'],
      ],
    );
    assert.deepEqual(alerts.openKinds(ref('team/app', 'unsigned')), ['unsigned-image']);
    assert.deepEqual(alerts.openKinds(ref('team/app', 'v1')), []);
    const record = store.records.get(ref('team/app', 'v1'))!;
    assert.equal(record.schemaVersion, 1);
    assert.deepEqual(record.verifiedLayouts, ['bundle', 'cosign']);
    assert.equal(record.history.length, 1);
  });

  it('does not download unchanged signatures again, and re-checks their log inclusion without reading their entries', async () => {
    const before = proxy.requests.length;
    const requestsBefore = logRequests;
    await appendFillerEntry(rekor.url, 'reverify: the log grows between passes');
    const grown = await new RekorV1Client({ baseUrl: rekor.url, logKey: rekor.publicKeyPem }).getCheckpoint();
    const mark = alerts.tagCalls.length;
    const summary = await reverifyOnce(deps());
    assert.equal(summary.cached, 2);
    assert.equal(summary.changed, 0);
    const blobReads = proxy.requests
      .slice(before)
      .filter((r) => r.method === 'GET' && r.url.pathname.includes('/blobs/'));
    assert.deepEqual(blobReads, []);
    assert.equal(logRequests, requestsBefore, 'no log entry was read again');
    const record = store.records.get(ref('team/app', 'v1'))!;
    // Proven in the grown tree: by a consistency proof from the tree the first pass recorded.
    const evidence = record.findings.flatMap((f) => f.log ?? []);
    assert.equal(evidence.length, 2);
    assert.ok(evidence.every((l) => l.provenAtTreeSize === grown.size));
    assert.equal(alerts.tagCalls.length, mark, 'nothing changed, nothing raised or resolved');
  });

  it('raises signature-missing when the .sig manifest disappears, and resolves it when it is back', async () => {
    const image = await push('team/missing', 'v1');
    await signImage({ registry, signer, rekorUrl: rekor.url }, image);
    assert.equal(statusOf(await reverifyOnce(deps()), ref('team/missing', 'v1')), 'valid');
    const tag = signatureTag(image.digest);
    const sig = await registry.getManifest(image, tag);
    assert.equal(await registry.deleteManifest(image, sig.descriptor.digest), true);
    assert.equal(statusOf(await reverifyOnce(deps()), ref('team/missing', 'v1')), 'missing');
    assert.deepEqual(alerts.openKinds(ref('team/missing', 'v1')), ['signature-missing']);
    await registry.putManifest(image, tag, sig.bytes, sig.descriptor.mediaType);
    assert.equal(statusOf(await reverifyOnce(deps()), ref('team/missing', 'v1')), 'valid');
    assert.deepEqual(alerts.openKinds(ref('team/missing', 'v1')), []);
  });

  it('raises signature-invalid for a tampered signature annotation, and resolves it when restored', async () => {
    const image = await push('team/tamper', 'v1');
    await signImage({ registry, signer, rekorUrl: rekor.url }, image);
    assert.equal(statusOf(await reverifyOnce(deps()), ref('team/tamper', 'v1')), 'valid');
    const { before: original, mediaType } = await rewriteSignatureManifest(registry, image, flipSignatures);
    const mark = alerts.calls.length;
    assert.equal(statusOf(await reverifyOnce(deps()), ref('team/tamper', 'v1')), 'invalid');
    const raised = alerts.raisedSince(mark);
    assert.deepEqual(
      raised.map((a) => a.kind),
      ['signature-invalid'],
    );
    assert.equal(raised[0]!.severity, 'CRITICAL');
    assert.equal(raised[0]!.evidence.digest, image.digest);
    assert.match(String(raised[0]!.evidence.verifierOutput), /cosign signature/);
    await registry.putManifest(image, signatureTag(image.digest), original, mediaType);
    assert.equal(statusOf(await reverifyOnce(deps()), ref('team/tamper', 'v1')), 'valid');
    assert.deepEqual(alerts.openKinds(ref('team/tamper', 'v1')), []);
  });

  it('raises unsigned-image and tag-moved when a tag moves to an unsigned digest, resolves both when it moves back', async () => {
    const image = await push('team/moving', 'prod');
    await signImage({ registry, signer, rekorUrl: rekor.url }, image);
    assert.equal(statusOf(await reverifyOnce(deps()), ref('team/moving', 'prod')), 'valid');
    await push('team/moving', 'prod', 'something else');
    assert.equal(statusOf(await reverifyOnce(deps()), ref('team/moving', 'prod')), 'unsigned');
    assert.deepEqual(alerts.openKinds(ref('team/moving', 'prod')), ['tag-moved', 'unsigned-image']);
    const original = await registry.getManifest(image, image.digest);
    await registry.putManifest(image, 'prod', original.bytes, original.descriptor.mediaType);
    assert.equal(statusOf(await reverifyOnce(deps()), ref('team/moving', 'prod')), 'valid');
    assert.deepEqual(alerts.openKinds(ref('team/moving', 'prod')), []);
    const history = store.records.get(ref('team/moving', 'prod'))!.history.map((h) => h.status);
    assert.deepEqual(history, ['valid', 'unsigned', 'valid']);
  });

  /** An image signed under `repository:prod`, judged valid by a first pass that watches only it. */
  const signedProd = async (repository: string) => {
    const signed = await push(repository, 'prod');
    await signImage({ registry, signer, rekorUrl: rekor.url }, signed);
    const only = (over: Partial<ReverifyDeps> = {}) => ({
      ...deps(),
      watch: [`${host}/${repository.split('/')[0]}/**`],
      ...over,
    });
    assert.equal(statusOf(await reverifyOnce(only()), ref(repository, 'prod')), 'valid');
    const moveTo = async (image: typeof signed) => {
      const manifest = await registry.getManifest(image, image.digest);
      await registry.putManifest(image, 'prod', manifest.bytes, manifest.descriptor.mediaType);
    };
    return { signed, only, moveTo, tag: ref(repository, 'prod') };
  };

  it("does not let a pass that resolved a tag before it moved again store its verdict or resolve the newer pass's alerts", async () => {
    // Passes overlap when a schedule is retried or run by hand: pass A resolves the tag while it
    // points at the signed digest, and acts on it only after the tag moved back to the unsigned one
    // and pass B stored that.
    const { signed, only: race, moveTo, tag } = await signedProd('race/app');
    const unsigned = await push('race/app', 'prod', 'unsigned build');
    assert.equal(statusOf(await reverifyOnce(race()), tag), 'unsigned');
    assert.deepEqual(alerts.openKinds(tag), ['tag-moved', 'unsigned-image']);

    await moveTo(signed);
    const aResolved = Promise.withResolvers<void>();
    const gate = Promise.withResolvers<void>();
    let held = false;
    const slowRegistry = new Proxy(registry, {
      get(target, prop) {
        if (prop !== 'resolve') {
          const value = Reflect.get(target, prop, target);
          return typeof value === 'function' ? value.bind(target) : value;
        }
        return async (...args: Parameters<RegistryClient['resolve']>) => {
          const answer = await target.resolve(...args);
          if (!held && 'tag' in args[0] && args[0].tag === 'prod') {
            held = true;
            aResolved.resolve();
            await gate.promise;
          }
          return answer;
        };
      },
    });
    const passA = reverifyOnce(race({ registry: slowRegistry }));
    await aResolved.promise;
    await moveTo(unsigned);
    const passB = await reverifyOnce(race());
    assert.equal(statusOf(passB, tag), 'unsigned');
    const mark = alerts.calls.length;
    gate.resolve();
    const summaryA = await passA;

    assert.deepEqual(summaryA.errors, []);
    assert.equal(statusOf(summaryA, tag), 'unsigned');
    assert.deepEqual(alerts.openKinds(tag), ['tag-moved', 'unsigned-image']);
    assert.deepEqual(
      alerts.calls.slice(mark).filter((c) => c.op === 'resolve' && c.key.endsWith(tag)),
      [],
      'no alert of the tag resolved by the stale verdict',
    );
    const record = store.records.get(tag)!;
    assert.equal(record.digest, unsigned.digest);
    assert.equal(record.status, 'unsigned');
    assert.equal(summaryA.superseded, 1, 'pass A found a newer verdict stored and verified the tag again');
  });

  it("waits while another pass delivers a tag's alerts, then judges the tag against that pass's verdict", async () => {
    const { signed, only, moveTo, tag } = await signedProd('deliver/app');
    await push('deliver/app', 'prod', 'unsigned build');
    // Pass A raises the change to unsigned, and its first raise is held inside the sink.
    const inSink = Promise.withResolvers<void>();
    const gate = Promise.withResolvers<void>();
    const heldSink: typeof alerts = Object.create(alerts);
    heldSink.raise = async (alert) => {
      inSink.resolve();
      await gate.promise;
      return alerts.raise(alert);
    };
    const passA = reverifyOnce(only({ alerts: heldSink }));
    await inSink.promise;
    // Meanwhile the tag is moved back, and pass B sees the signed digest.
    await moveTo(signed);
    const mark = alerts.calls.length;
    let bDone = false;
    const passB = reverifyOnce(only()).finally(() => {
      bDone = true;
    });
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(bDone, false, 'pass B waits for the delivery in progress');
    assert.equal(alerts.calls.length, mark, 'and delivers nothing meanwhile');
    gate.resolve();
    const [a, b] = await Promise.all([passA, passB]);

    assert.deepEqual(a.errors, []);
    assert.deepEqual(b.errors, []);
    assert.equal(statusOf(a, tag), 'unsigned');
    assert.equal(statusOf(b, tag), 'valid');
    const ops = alerts.calls.slice(mark).map((c) => (c.op === 'raise' ? `raise ${c.alert.kind}` : `resolve`));
    assert.deepEqual(ops.slice(0, 2), ['raise unsigned-image', 'raise tag-moved'], 'A delivered first');
    assert.deepEqual(alerts.openKinds(tag), [], 'B resolved them after');
    assert.equal(store.records.get(tag)?.status, 'valid');
    assert.equal(store.records.get(tag)?.delivery, undefined);
  });

  it('delivers again the alerts of a pass whose delivery failed, once its claim lapses', async () => {
    const { tag, only } = await signedProd('lapsed/app');
    await push('lapsed/app', 'prod', 'unsigned build');
    const failingSink: typeof alerts = Object.create(alerts);
    failingSink.raise = async () => {
      throw new Error('alert sink down');
    };
    const failed = await reverifyOnce(only({ alerts: failingSink }));
    assert.match(
      failed.errors.map((e) => e.error).join('\n'),
      /is stored, but delivering its alerts failed \(alert sink down\)/,
    );
    assert.deepEqual(alerts.openKinds(tag), []);
    assert.notEqual(store.records.get(tag)?.delivery, undefined, 'the claim stays on the stored verdict');

    const later = new Date(Date.now() + 120_000);
    const next = await reverifyOnce(only({ now: () => later }));
    assert.deepEqual(next.errors, []);
    assert.equal(statusOf(next, tag), 'unsigned');
    assert.deepEqual(alerts.openKinds(tag), ['tag-moved', 'unsigned-image'], 'the change delivered again');
    assert.equal(store.records.get(tag)?.delivery, undefined);
  });

  it('raises key-disabled while the key version is disabled, and resolves it when it is enabled again', async () => {
    keyState = 'DISABLED';
    try {
      const summary = await reverifyOnce(deps());
      assert.equal(statusOf(summary, ref('team/app', 'v1')), 'key-disabled');
      assert.deepEqual(alerts.openKinds(ref('team/app', 'v1')), ['key-disabled']);
    } finally {
      keyState = 'ENABLED';
    }
    assert.equal(statusOf(await reverifyOnce(deps()), ref('team/app', 'v1')), 'valid');
    assert.deepEqual(alerts.openKinds(ref('team/app', 'v1')), []);
  });

  it('splits the inventory into disjoint shards', async () => {
    const all = (await reverifyOnce(deps())).outcomes.map((o) => o.ref);
    const shards = await Promise.all(
      [0, 1, 2].map(async (index) =>
        (await reverifyOnce(deps(), { shard: { index, count: 3 } })).outcomes.map((o) => o.ref),
      ),
    );
    assert.deepEqual(shards.flat().sort(), [...all].sort());
    for (const r of all) assert.equal([0, 1, 2].filter((index) => inShard(r, { index, count: 3 })).length, 1);
  });

  it("looks a digest's signature artifacts up once per pass, however many tags point at it", async () => {
    const image = await push('team/shared', 'v1');
    await signImage({ registry, signer, rekorUrl: rekor.url }, image);
    const original = await registry.getManifest(image, image.digest);
    for (const tag of ['v1.0', 'latest', 'stable']) {
      await registry.putManifest(image, tag, original.bytes, original.descriptor.mediaType);
    }
    const sigPath = `/v2/team/shared/manifests/${signatureTag(image.digest)}`;
    const sigLookups = (from: number) => proxy.requests.slice(from).filter((r) => r.url.pathname === sigPath);
    for (const pass of ['cold', 'warm']) {
      const before = proxy.requests.length;
      const summary = await reverifyOnce(deps());
      for (const tag of ['v1', 'v1.0', 'latest', 'stable']) {
        assert.equal(statusOf(summary, ref('team/shared', tag)), 'valid', `${pass} ${tag}`);
      }
      const heads = sigLookups(before).filter((r) => r.method === 'HEAD');
      assert.equal(heads.length, 1, `${pass}: one HEAD of the .sig tag for four tags`);
      // docker-registry 2.8 has no referrers API: each repository is asked once a pass, then the tag schema.
      const api = proxy.requests.slice(before).filter((r) => r.url.pathname.includes('/referrers/'));
      const repos = api.map((r) => r.url.pathname.split('/referrers/')[0]);
      assert.equal(new Set(repos).size, repos.length, `${pass}: ${repos.join(' ')}`);
    }
    // Still seen on the next pass when it disappears, for every tag of the digest.
    const sig = await registry.getManifest(image, signatureTag(image.digest));
    assert.equal(await registry.deleteManifest(image, sig.descriptor.digest), true);
    const summary = await reverifyOnce(deps());
    for (const tag of ['v1', 'v1.0', 'latest', 'stable']) {
      assert.equal(statusOf(summary, ref('team/shared', tag)), 'missing', tag);
      assert.deepEqual(alerts.openKinds(ref('team/shared', tag)), ['signature-missing']);
    }
    await registry.putManifest(image, signatureTag(image.digest), sig.bytes, sig.descriptor.mediaType);
    assert.equal(statusOf(await reverifyOnce(deps()), ref('team/shared', 'latest')), 'valid');
  });
});
