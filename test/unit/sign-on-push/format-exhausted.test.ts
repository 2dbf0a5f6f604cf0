/**
 * A format added to a watch rule that cannot be signed (the log is down) until its attempts run out:
 * the image stays attached in the format it has, the format is alerted once, and a later push tries
 * it again with a fresh, bounded count; nothing is signed twice. Before, the record ended `failed`
 * (the dashboard and `sigsentry status` called the image failing) and every later push raised the
 * "gave up signing" alert of an image never signed.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Witness } from '@sigstore/sign';
import { coverageFrom, signingSummary } from '../../../functions/dashboard/data.ts';
import { DependencyError, SigsentryError } from '../../../functions/errors.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { gcrEvent, MemorySigningStore, signOnPushCore } from '../../helpers/sign-on-push-core.ts';

let reg: TestRegistry;
before(async () => {
  reg = await startRegistry();
});
after(() => reg.stop());

/** An image pushed as team/NAME:v1 and signed in the cosign format only, as a rule did before a format was added. */
async function signedInCosign(name: string) {
  const client = new RegistryClient({ allowedHosts: [reg.host] });
  const pushed = await reg.pushImage(`team/${name}`, 'v1');
  const image = `${reg.host}/team/${name}@${pushed.digest}`;
  const store = new MemorySigningStore();
  const first = signOnPushCore(client, reg.host, { formats: ['cosign'], store });
  await first.entry(gcrEvent({ action: 'INSERT', digest: image, tag: `${reg.host}/team/${name}:v1` }));
  return { client, pushed, image, store };
}

/** A log that answers 503 while `down`, and witnesses (with no entry: nothing checks it here) once up. */
function flakyLog() {
  const log = { down: true, calls: 0 };
  const witness: Witness = {
    testify: async () => {
      log.calls++;
      if (log.down) throw new DependencyError('tlog', 'injected: the log answered 503');
      return { tlogEntries: [] };
    },
  };
  return { log, witness };
}

test('a format added since that runs out of attempts leaves the image attached in its old format, alerted once', async () => {
  const { client, pushed, image, store } = await signedInCosign('app');
  const record = () => store.records.get(image)!;
  assert.equal(record().state, 'attached');
  const cosign = structuredClone(record().formats.cosign);

  const { log, witness } = flakyLog();
  const maxAttempts = 3;
  const later = signOnPushCore(client, reg.host, {
    formats: ['bundle', 'cosign'],
    store,
    witness,
    maxAttempts,
  });
  const deliver = (id: string) => later.entry(gcrEvent({ action: 'INSERT', digest: image }, id));
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    await assert.rejects(deliver('m2'), DependencyError, `attempt ${attempt} fails and is redelivered`);
    assert.equal(record().state, 'attached', 'attached in cosign while the bundle is retried');
    assert.equal(record().attempts, attempt);
  }
  assert.equal(later.raised.length, 0, 'no alert while attempts remain');
  await deliver('m2'); // the redelivery finds the attempts exhausted: acknowledged, alerted

  assert.equal(record().state, 'attached', 'still attached: its cosign signature is there and verifies');
  assert.deepEqual(record().formats.cosign, cosign, 'the cosign signature is kept as it was');
  assert.deepEqual(record().failedFormats, ['bundle']);
  assert.equal(record().lease, null);
  assert.equal(later.raised.length, 1, 'one alert');
  const [alert] = later.raised;
  assert.equal(alert?.kind, 'signing-failed');
  assert.equal(alert?.severity, 'HIGH');
  assert.equal(alert?.subject, image);
  assert.equal(alert?.evidence.digest, pushed.digest);
  assert.deepEqual(alert?.evidence.formats, ['bundle']);
  assert.deepEqual(alert?.evidence.attachedIn, ['cosign']);
  assert.match(alert!.summary, /in the bundle format after 3 attempts; it stays signed in cosign/);
  assert.equal(
    later.signed.length,
    1,
    'the bundle payload was signed once, its signature reused on each retry',
  );
  assert.equal(log.calls, maxAttempts, 'the log was asked once per attempt');

  // What the dashboard and `sigsentry status` read: attached, the bundle given up on.
  const summary = signingSummary(record());
  assert.equal(summary.state, 'attached');
  assert.deepEqual(summary.failedFormats, ['bundle']);
  const [repo] = coverageFrom([], [record()]);
  assert.deepEqual([repo!.signed, repo!.failing, repo!.signedDigests], [1, 0, 1]);

  // A later push, the log still down: a fresh count for the bundle, not the alert of an image that
  // was never signed; once the count runs out again, the same incident again. The image is tagged
  // `v2` too (a tag the message names is recorded only if the registry says it names the digest).
  assert.equal((await reg.pushImage('team/app', 'v2', 'team/app:v1')).digest, pushed.digest);
  const again = (id: string) =>
    later.entry(gcrEvent({ action: 'INSERT', digest: image, tag: `${reg.host}/team/app:v2` }, id));
  await assert.rejects(again('m3'), DependencyError);
  assert.equal(record().state, 'attached');
  assert.equal(record().attempts, 1, 'a fresh count');
  assert.equal(later.raised.length, 1, 'no alert on the later push');
  await assert.rejects(again('m3'), DependencyError);
  await assert.rejects(again('m3'), DependencyError);
  await again('m3');
  assert.equal(later.raised.length, 2);
  assert.equal(
    new Set(later.raised.map((a) => a.key ?? `${a.kind}:${a.subject}`)).size,
    1,
    'one incident, raised again',
  );
  assert.ok(later.raised.every((a) => /bundle format/.test(a.summary)));
  assert.equal(record().state, 'attached');

  // The log is back: the next push attaches the bundle with the signature made the first time.
  log.down = false;
  await again('m4');
  assert.equal(record().state, 'attached');
  assert.equal(record().formats.bundle?.attached, true);
  assert.deepEqual(record().failedFormats, []);
  assert.deepEqual(record().adding, []);
  assert.deepEqual(record().formats.cosign, cosign);
  assert.equal(later.signed.length, 1, 'nothing signed twice');
  assert.equal(later.raised.length, 2, 'no alert');
  assert.deepEqual(record().tags.sort(), [`${reg.host}/team/app:v1`, `${reg.host}/team/app:v2`]);
  await again('m5');
  assert.equal(later.signed.length, 1, 'then it is done');
  assert.equal(log.calls, 2 * maxAttempts + 1);
});

test('a record written failed while attached in a format (before the fix) reads as attached and is tried again, not alerted as never signed', async () => {
  const { client, image, store } = await signedInCosign('old');
  // As the code before left it: the added bundle format ran out of attempts, the record `failed`.
  const stored = store.records.get(image)!;
  Object.assign(stored, { state: 'failed', attempts: 10, lease: null });
  const legacy = { ...stored, formats: { ...stored.formats, bundle: { signature: 'c2ln' } } };
  assert.equal(signingSummary(legacy).state, 'attached');
  assert.deepEqual(signingSummary(legacy).failedFormats, ['bundle']);
  const [repo] = coverageFrom([], [legacy]);
  assert.deepEqual([repo!.signed, repo!.failing, repo!.signedDigests], [1, 0, 1]);

  const { log, witness } = flakyLog();
  log.down = false;
  const later = signOnPushCore(client, reg.host, { formats: ['bundle', 'cosign'], store, witness });
  await later.entry(gcrEvent({ action: 'INSERT', digest: image }, 'm2'));
  assert.equal(later.raised.length, 0, 'no "gave up signing" alert');
  assert.equal(store.records.get(image)?.state, 'attached');
  assert.equal(store.records.get(image)?.formats.bundle?.attached, true);
  assert.equal(store.records.get(image)?.attempts, 1, 'a fresh count for the bundle');
  assert.equal(later.signed.length, 1, 'the bundle only');
});

test('a format added since that fails for good (a refusal no retry mends) says the image stays signed in its old format', async () => {
  const { client, image, store } = await signedInCosign('refused');

  let refusing = true;
  const witness: Witness = {
    testify: async () => {
      if (refusing) throw new SigsentryError('LOG_REJECTED', 'injected: the log refused the entry');
      return { tlogEntries: [] };
    },
  };
  const later = signOnPushCore(client, reg.host, { formats: ['bundle', 'cosign'], store, witness });
  await later.entry(gcrEvent({ action: 'INSERT', digest: image }, 'm2')); // acknowledged: no retry mends it
  assert.equal(later.raised.length, 1);
  const [alert] = later.raised;
  assert.equal(alert?.kind, 'signing-failed');
  assert.equal(alert?.key, `signing-failed:${image}:bundle`, 'the incident of the bundle format');
  assert.match(alert!.summary, /stays signed in cosign; the bundle format was not added/);
  assert.doesNotMatch(alert!.summary, /was not signed/);
  assert.deepEqual(alert?.evidence.attachedIn, ['cosign']);
  assert.deepEqual(alert?.evidence.formats, ['bundle']);
  assert.equal(store.records.get(image)?.state, 'attached');

  // A later push tries the format again.
  refusing = false;
  await later.entry(gcrEvent({ action: 'INSERT', digest: image }, 'm3'));
  assert.equal(store.records.get(image)?.formats.bundle?.attached, true);
  assert.equal(later.raised.length, 1);
});

test('once a format is given up on, redeliveries and pushes already in flight find it given up; only a push published later gets a fresh count', async () => {
  const { client, image, store } = await signedInCosign('bounded');

  const { log, witness } = flakyLog();
  const maxAttempts = 3;
  const later = signOnPushCore(client, reg.host, {
    formats: ['bundle', 'cosign'],
    store,
    witness,
    maxAttempts,
  });
  const before = new Date(Date.now() - 60_000);
  const push = (id: string, at: Date) => later.entry(gcrEvent({ action: 'INSERT', digest: image }, id, at));
  for (let attempt = 1; attempt <= maxAttempts; attempt++)
    await assert.rejects(push('a', before), DependencyError);
  await push('a', before); // given up on: acknowledged, alerted
  assert.equal(later.raised.length, 1);
  assert.equal(log.calls, maxAttempts);

  // The same message redelivered (its alert not recorded, say), and another push published before
  // the give-up: told again under the one key, acknowledged, no attempt and no fresh count.
  await push('a', before);
  await push('b', new Date(before.getTime() + 1));
  assert.equal(log.calls, maxAttempts, 'no attempt past the bound');
  assert.equal(store.records.get(image)?.attempts, maxAttempts);
  assert.equal(later.raised.length, 3);
  assert.equal(new Set(later.raised.map((a) => a.key)).size, 1, 'one incident');

  // A push published after the give-up: a fresh count, and once the log is back, attached; the
  // incident of the bundle format is resolved.
  await new Promise((r) => setTimeout(r, 5));
  await assert.rejects(push('c', new Date()), DependencyError);
  assert.equal(store.records.get(image)?.attempts, 1);
  assert.equal(log.calls, maxAttempts + 1);
  // An older message meanwhile does not join that count (found by review: it went on counting).
  await push('b', new Date(before.getTime() + 1));
  assert.equal(store.records.get(image)?.attempts, 1);
  assert.equal(log.calls, maxAttempts + 1);
  assert.equal(later.raised.at(-1)?.key, `signing-failed:${image}:bundle`, 'told as the same incident');
  assert.match(later.raised.at(-1)!.summary, /after 3 attempts/, 'the count given up on, not the new one');
  log.down = false;
  await push('c', new Date());
  assert.equal(store.records.get(image)?.formats.bundle?.attached, true);
  // (A signing also resolves the before-claim incident a push failing before its claim may have had.)
  assert.deepEqual(
    later.resolved.filter((key) => !key.endsWith(':before-claim')),
    [`signing-failed:${image}:bundle`],
  );
  assert.equal(later.signed.length, 1, 'nothing signed twice');
});

test('an image attached in every format whose last write was lost is done when its attempts are spent, not given up on', async () => {
  const client = new RegistryClient({ allowedHosts: [reg.host] });
  const pushed = await reg.pushImage('team/lost-write', 'v1');
  const image = `${reg.host}/team/lost-write@${pushed.digest}`;
  const store = new MemorySigningStore();
  const core = signOnPushCore(client, reg.host, { formats: ['cosign'], store, maxAttempts: 2 });
  await core.entry(gcrEvent({ action: 'INSERT', digest: image }));
  // As a signing leaves it when its final write fails and the catch's write lands: still claimed,
  // its lease given back, every format attached, its attempts spent.
  Object.assign(store.records.get(image)!, { state: 'claimed', lease: null, attempts: 2 });
  await core.entry(gcrEvent({ action: 'INSERT', digest: image }, 'm2'));
  assert.equal(core.raised.length, 0, 'no "gave up signing" alert for a signed image');
  assert.equal(store.records.get(image)?.state, 'attached');
  assert.equal(core.signed.length, 1, 'nothing signed again');
});

test('a format attached whose final write was lost has its incident resolved by the next push (found by review)', async () => {
  const { client, image, store } = await signedInCosign('resolve');
  const later = signOnPushCore(client, reg.host, { formats: ['bundle', 'cosign'], store });
  // The bundle is attached, but the write saying the signing is over is lost.
  const progress = store.progress.bind(store);
  store.progress = async (id, owner, patch) => {
    if (patch.state === 'attached') throw new Error('injected: the final write was lost');
    return progress(id, owner, patch);
  };
  await assert.rejects(later.entry(gcrEvent({ action: 'INSERT', digest: image }, 'm2')));
  store.progress = progress;
  Object.assign(store.records.get(image)!, { lease: null });
  assert.deepEqual(store.records.get(image)?.adding, ['bundle']);
  assert.equal(store.records.get(image)?.formats.bundle?.attached, true);
  await later.entry(gcrEvent({ action: 'INSERT', digest: image }, 'm2'));
  // (A message with no publish time is taken for an operator's request, which closes a lost-signature incident too.)
  assert.deepEqual(
    later.resolved.filter((key) => !key.endsWith(':signature-lost')),
    [`signing-failed:${image}:bundle`],
  );
  assert.deepEqual(store.records.get(image)?.adding, []);
  assert.equal(later.signed.length, 1, 'nothing signed again');
});

test('a first signing that attached one format and fails for good in the other says the image stays signed in the first (found by review)', async () => {
  const client = new RegistryClient({ allowedHosts: [reg.host] });
  const pushed = await reg.pushImage('team/partial', 'v1');
  const image = `${reg.host}/team/partial@${pushed.digest}`;
  let calls = 0;
  const witness: Witness = {
    testify: async () => {
      // The cosign layout is logged first; the bundle's entry is refused.
      if (++calls > 1) throw new SigsentryError('LOG_REJECTED', 'injected: the log refused the entry');
      return { tlogEntries: [] };
    },
  };
  const core = signOnPushCore(client, reg.host, { formats: ['cosign', 'bundle'], witness });
  await core.entry(gcrEvent({ action: 'INSERT', digest: image }));
  assert.equal(core.store.records.get(image)?.formats.cosign?.attached, true);
  assert.equal(core.raised.length, 1);
  assert.equal(core.raised[0]?.key, `signing-failed:${image}:bundle`);
  assert.match(core.raised[0]!.summary, /stays signed in cosign; the bundle format was not added/);
});

test('a format given up on and then dropped from the rule is no longer shown given up on, and its incident resolves', async () => {
  const { client, image, store } = await signedInCosign('dropped');
  const { witness } = flakyLog(); // down for good
  const adding = signOnPushCore(client, reg.host, {
    formats: ['bundle', 'cosign'],
    store,
    witness,
    maxAttempts: 1,
  });
  await assert.rejects(adding.entry(gcrEvent({ action: 'INSERT', digest: image }, 'm2')), DependencyError);
  await adding.entry(gcrEvent({ action: 'INSERT', digest: image }, 'm2')); // given up on
  assert.deepEqual(store.records.get(image)?.failedFormats, ['bundle']);

  // The operator takes the bundle format off the rule again.
  const cosignOnly = signOnPushCore(client, reg.host, { formats: ['cosign'], store });
  await cosignOnly.entry(gcrEvent({ action: 'INSERT', digest: image }, 'm3'));
  assert.deepEqual(store.records.get(image)?.failedFormats, []);
  // (A message with no publish time is taken for an operator's request, which closes a lost-signature incident too.)
  assert.deepEqual(
    cosignOnly.resolved.filter((key) => !key.endsWith(':signature-lost')),
    [`signing-failed:${image}:bundle`],
  );
  assert.equal(cosignOnly.raised.length, 0);
  assert.equal(signingSummary(store.records.get(image)!).failedFormats, undefined);
});
