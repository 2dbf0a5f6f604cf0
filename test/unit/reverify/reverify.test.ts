import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { signatureTag } from '../../../functions/attach/cosign-layout.ts';
import type { RegistryClient } from '../../../functions/registry/client.ts';
import { reverifyOnce } from '../../../functions/reverify/core.ts';
import { inShard } from '../../../functions/reverify/inventory.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import { appendFillerEntry } from '../../helpers/hashedrekord.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import { heldSink, reverifyHarness, signedProd, statusOf } from '../../helpers/reverify.ts';
import { signImage } from '../../helpers/sign-image.ts';
import { flipSignatures, rewriteSignatureManifest } from '../verify/tamper.ts';

describe('reverifyOnce', () => {
  const harness = reverifyHarness('reverify-rekor');
  const { signer, ref, push } = harness;
  const store = new MemoryTagStore();
  const alerts = new RecordingAlertSink();
  let keyState = 'ENABLED';
  let logRequests = 0;
  const deps = () =>
    harness.deps(
      { store, alerts, watch: [`${harness.host}/team/**`], keyState: async () => keyState },
      (input, init) => {
        logRequests++;
        return fetch(input, init);
      },
    );

  it('walks the watched repositories, verifies each tag and alerts on the unsigned one', async () => {
    const signed = await push('team/app', 'v1');
    await signImage({ registry: harness.registry, signer, rekorUrl: harness.rekor.url }, signed);
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
    const before = harness.proxy.requests.length;
    const requestsBefore = logRequests;
    await appendFillerEntry(harness.rekor.url, 'reverify: the log grows between passes');
    const grown = await new RekorV1Client({
      baseUrl: harness.rekor.url,
      logKey: harness.rekor.publicKeyPem,
    }).getCheckpoint();
    const mark = alerts.tagCalls.length;
    const summary = await reverifyOnce(deps());
    assert.equal(summary.cached, 2);
    assert.equal(summary.changed, 0);
    const blobReads = harness.proxy.requests
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
    await signImage({ registry: harness.registry, signer, rekorUrl: harness.rekor.url }, image);
    assert.equal(statusOf(await reverifyOnce(deps()), ref('team/missing', 'v1')), 'valid');
    const tag = signatureTag(image.digest);
    const sig = await harness.registry.getManifest(image, tag);
    assert.equal(await harness.registry.deleteManifest(image, sig.descriptor.digest), true);
    assert.equal(statusOf(await reverifyOnce(deps()), ref('team/missing', 'v1')), 'missing');
    assert.deepEqual(alerts.openKinds(ref('team/missing', 'v1')), ['signature-missing']);
    await harness.registry.putManifest(image, tag, sig.bytes, sig.descriptor.mediaType);
    assert.equal(statusOf(await reverifyOnce(deps()), ref('team/missing', 'v1')), 'valid');
    assert.deepEqual(alerts.openKinds(ref('team/missing', 'v1')), []);
  });

  it('raises signature-invalid for a tampered signature annotation, and leaves it open when restored, for an operator to resolve', async () => {
    const image = await push('team/tamper', 'v1');
    await signImage({ registry: harness.registry, signer, rekorUrl: harness.rekor.url }, image);
    assert.equal(statusOf(await reverifyOnce(deps()), ref('team/tamper', 'v1')), 'valid');
    const { before: original, mediaType } = await rewriteSignatureManifest(
      harness.registry,
      image,
      flipSignatures,
    );
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
    // Whoever planted the forgery removes it: the tag is valid again, the incident stays open.
    await harness.registry.putManifest(image, signatureTag(image.digest), original, mediaType);
    const restored = alerts.calls.length;
    assert.equal(statusOf(await reverifyOnce(deps()), ref('team/tamper', 'v1')), 'valid');
    assert.deepEqual(alerts.openKinds(ref('team/tamper', 'v1')), ['signature-invalid']);
    assert.ok(
      !alerts.calls.slice(restored).some((c) => c.op === 'resolve' && c.key.startsWith('signature-invalid:')),
      'no pass resolves a signature-invalid alert',
    );
    assert.equal(statusOf(await reverifyOnce(deps()), ref('team/tamper', 'v1')), 'valid');
    assert.deepEqual(alerts.openKinds(ref('team/tamper', 'v1')), ['signature-invalid']);
    // An operator resolves it; a forgery planted again raises it again.
    await alerts.resolve(
      `signature-invalid:${ref('team/tamper', 'v1')}`,
      'resolved by an operator: investigated',
    );
    await rewriteSignatureManifest(harness.registry, image, flipSignatures);
    assert.equal(statusOf(await reverifyOnce(deps()), ref('team/tamper', 'v1')), 'invalid');
    assert.deepEqual(alerts.openKinds(ref('team/tamper', 'v1')), ['signature-invalid']);
  });

  it('raises unsigned-image and tag-moved when a tag moves to an unsigned digest, resolves both when it moves back', async () => {
    const image = await push('team/moving', 'prod');
    await signImage({ registry: harness.registry, signer, rekorUrl: harness.rekor.url }, image);
    assert.equal(statusOf(await reverifyOnce(deps()), ref('team/moving', 'prod')), 'valid');
    await push('team/moving', 'prod', 'something else');
    assert.equal(statusOf(await reverifyOnce(deps()), ref('team/moving', 'prod')), 'unsigned');
    assert.deepEqual(alerts.openKinds(ref('team/moving', 'prod')), ['tag-moved', 'unsigned-image']);
    const original = await harness.registry.getManifest(image, image.digest);
    await harness.registry.putManifest(image, 'prod', original.bytes, original.descriptor.mediaType);
    assert.equal(statusOf(await reverifyOnce(deps()), ref('team/moving', 'prod')), 'valid');
    assert.deepEqual(alerts.openKinds(ref('team/moving', 'prod')), []);
    const history = store.records.get(ref('team/moving', 'prod'))!.history.map((h) => h.status);
    assert.deepEqual(history, ['valid', 'unsigned', 'valid']);
  });

  it("does not let a pass that resolved a tag before it moved again store its verdict or resolve the newer pass's alerts", async () => {
    // Passes overlap when a schedule is retried or run by hand: pass A resolves the tag while it
    // points at the signed digest, and acts on it only after the tag moved back to the unsigned one
    // and pass B stored that.
    const { signed, only: race, moveTo, tag } = await signedProd(harness, deps, 'race/app');
    const unsigned = await push('race/app', 'prod', 'unsigned build');
    assert.equal(statusOf(await reverifyOnce(race()), tag), 'unsigned');
    assert.deepEqual(alerts.openKinds(tag), ['tag-moved', 'unsigned-image']);

    await moveTo(signed);
    const aResolved = Promise.withResolvers<void>();
    const gate = Promise.withResolvers<void>();
    let held = false;
    const slowRegistry = new Proxy(harness.registry, {
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
    const { signed, only, moveTo, tag } = await signedProd(harness, deps, 'deliver/app');
    await push('deliver/app', 'prod', 'unsigned build');
    // Pass A raises the change to unsigned, and its first raise is held inside the sink.
    const { sink, inSink, gate } = heldSink(alerts);
    const passA = reverifyOnce(only({ alerts: sink }));
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
    const { tag, only } = await signedProd(harness, deps, 'lapsed/app');
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
    await signImage({ registry: harness.registry, signer, rekorUrl: harness.rekor.url }, image);
    const original = await harness.registry.getManifest(image, image.digest);
    for (const tag of ['v1.0', 'latest', 'stable']) {
      await harness.registry.putManifest(image, tag, original.bytes, original.descriptor.mediaType);
    }
    const sigPath = `/v2/team/shared/manifests/${signatureTag(image.digest)}`;
    const sigLookups = (from: number) =>
      harness.proxy.requests.slice(from).filter((r) => r.url.pathname === sigPath);
    for (const pass of ['cold', 'warm']) {
      const before = harness.proxy.requests.length;
      const summary = await reverifyOnce(deps());
      for (const tag of ['v1', 'v1.0', 'latest', 'stable']) {
        assert.equal(statusOf(summary, ref('team/shared', tag)), 'valid', `${pass} ${tag}`);
      }
      const heads = sigLookups(before).filter((r) => r.method === 'HEAD');
      assert.equal(heads.length, 1, `${pass}: one HEAD of the .sig tag for four tags`);
      // docker-registry 2.8 has no referrers API: each repository is asked once a pass, then the tag schema.
      const api = harness.proxy.requests.slice(before).filter((r) => r.url.pathname.includes('/referrers/'));
      const repos = api.map((r) => r.url.pathname.split('/referrers/')[0]);
      assert.equal(new Set(repos).size, repos.length, `${pass}: ${repos.join(' ')}`);
    }
    // Still seen on the next pass when it disappears, for every tag of the digest.
    const sig = await harness.registry.getManifest(image, signatureTag(image.digest));
    assert.equal(await harness.registry.deleteManifest(image, sig.descriptor.digest), true);
    const summary = await reverifyOnce(deps());
    for (const tag of ['v1', 'v1.0', 'latest', 'stable']) {
      assert.equal(statusOf(summary, ref('team/shared', tag)), 'missing', tag);
      assert.deepEqual(alerts.openKinds(ref('team/shared', tag)), ['signature-missing']);
    }
    await harness.registry.putManifest(
      image,
      signatureTag(image.digest),
      sig.bytes,
      sig.descriptor.mediaType,
    );
    assert.equal(statusOf(await reverifyOnce(deps()), ref('team/shared', 'latest')), 'valid');
  });
});
