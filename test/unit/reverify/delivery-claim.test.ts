/**
 * A pass's claim on delivering a tag's alerts (store.ts TagDelivery) is renewed before each alert it
 * raises or resolves, and a pass that no longer holds it stops. Found by review: the claim (60 s)
 * could lapse during a slow delivery (a webhook post takes up to 43.5 s, a change raises two alerts),
 * so an older pass's raises landed after a newer pass had stored `valid` and resolved, leaving
 * `tag-moved` and `unsigned-image` open on a valid tag with no later pass to close them. Also: a
 * verdict the store cannot write still has its alerts raised.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AlertInput } from '../../../functions/alerts/alert.ts';
import { DependencyError } from '../../../functions/errors.ts';
import type { RegistryClient } from '../../../functions/registry/client.ts';
import { reverifyOnce } from '../../../functions/reverify/core.ts';
import { MemoryTagStore, type PutOutcome, type TagRecord } from '../../../functions/reverify/store.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import { heldSink, reverifyHarness, signedProd, statusOf } from '../../helpers/reverify.ts';

/** A tag store whose writes of verdicts fail while `failing` (Firestore down, or a record it refuses). */
class FailingPutStore extends MemoryTagStore {
  failing = false;
  override async put(record: TagRecord, basis: TagRecord | undefined): Promise<PutOutcome> {
    if (this.failing) {
      throw new DependencyError('firestore', `writing the verdict of ${record.ref} failed: 14 UNAVAILABLE`);
    }
    return await super.put(record, basis);
  }
}

describe('the claim on delivering a tag’s alerts', () => {
  const harness = reverifyHarness('delivery-claim-rekor');
  const store = new FailingPutStore();
  const alerts = new RecordingAlertSink();
  const deps = () => harness.deps({ store, alerts, watch: [] });
  const ops = (from: number, tag: string) =>
    alerts.calls
      .slice(from)
      .filter((c) => (c.op === 'raise' ? c.alert.subject === tag : c.key.endsWith(`:${tag}`)))
      .map((c) => (c.op === 'raise' ? `raise ${c.alert.kind}` : `resolve ${c.key.split(':')[0]}`));

  it('a pass whose claim lapsed during a slow raise stops, and the alert it raised late is resolved', async () => {
    const { signed, only, moveTo, tag } = await signedProd(harness, deps, 'slowhook/app');
    await harness.push('slowhook/app', 'prod', 'unsigned build');
    // Pass A records valid -> unsigned; its first raise is slow (a webhook timing out).
    const { sink, inSink, gate } = heldSink(alerts);
    const passA = reverifyOnce(only({ alerts: sink }));
    await inSink.promise;
    // The tag is fixed (moved back to the signed digest), and pass B runs 61 s later: A's claim has
    // lapsed, so B stores `valid` and resolves (nothing is open yet).
    await moveTo(signed);
    const later = new Date(Date.now() + 61_000);
    const b = await reverifyOnce(only({ now: () => later }));
    assert.deepEqual(b.errors, []);
    assert.equal(statusOf(b, tag), 'valid');
    const mark = alerts.calls.length;
    // A's raise lands now, after B's resolves.
    gate.resolve();
    const a = await passA;

    assert.deepEqual(a.errors, []);
    assert.equal(
      statusOf(a, tag),
      'valid',
      'A lost its claim, so it judged the tag again against the stored verdict',
    );
    assert.equal(a.superseded, 1);
    const after = ops(mark, tag);
    assert.equal(after[0], 'raise unsigned-image', "A's raise in flight landed late");
    assert.ok(!after.includes('raise tag-moved'), `A raised nothing more once the claim was gone: ${after}`);
    assert.ok(after.includes('resolve unsigned-image'), `and the late raise was resolved: ${after}`);
    assert.equal(store.records.get(tag)?.status, 'valid', 'the stored verdict is valid');
    assert.equal(store.records.get(tag)?.delivery, undefined, 'no delivery left owed');
    assert.deepEqual(alerts.openKinds(tag), [], `open alerts on a valid tag: ${alerts.openKinds(tag)}`);

    // A further pass changes nothing.
    const next = await reverifyOnce(only());
    assert.equal(statusOf(next, tag), 'valid');
    assert.deepEqual(alerts.openKinds(tag), []);
  });

  it('a pass that loses its claim after a late call, and cannot judge again, leaves the alerts owed to the next pass', async () => {
    const { signed, only, moveTo, tag } = await signedProd(harness, deps, 'owed/app');
    await harness.push('owed/app', 'prod', 'unsigned build');
    const { sink, inSink, gate } = heldSink(alerts);
    // A's judging again is refused by its registry (down after the first look), so only the record
    // carries what it owes.
    let resolves = 0;
    const failingAfterFirst = new Proxy(harness.registry, {
      get(target, prop) {
        if (prop !== 'resolve') {
          const value = Reflect.get(target, prop, target);
          return typeof value === 'function' ? value.bind(target) : value;
        }
        return async (...args: Parameters<RegistryClient['resolve']>) => {
          if ('tag' in args[0] && args[0].tag === 'prod' && ++resolves > 1)
            throw new DependencyError('registry', 'registry down');
          return await target.resolve(...args);
        };
      },
    });
    const passA = reverifyOnce(only({ alerts: sink, registry: failingAfterFirst }));
    await inSink.promise;
    await moveTo(signed);
    const later = new Date(Date.now() + 61_000);
    assert.equal(statusOf(await reverifyOnce(only({ now: () => later })), tag), 'valid');
    gate.resolve();
    const a = await passA;
    assert.match(a.errors.map((e) => e.error).join('\n'), /registry down/);
    assert.deepEqual(alerts.openKinds(tag), ['unsigned-image'], 'the late raise is open for now');
    const owed = store.records.get(tag)?.delivery;
    assert.equal(store.records.get(tag)?.status, 'valid');
    assert.deepEqual(owed?.previous?.status, 'unsigned', 'the stored verdict owes its alerts again');
    assert.ok(Date.parse(owed!.until) <= Date.now(), 'as a lapsed claim');

    const next = await reverifyOnce(only());
    assert.deepEqual(next.errors, []);
    assert.equal(statusOf(next, tag), 'valid');
    assert.deepEqual(alerts.openKinds(tag), [], 'the next pass delivered them again');
    assert.equal(store.records.get(tag)?.delivery, undefined);
  });

  it('a claim renewed before each call holds a slow delivery past 60 s: another pass waits for it', async () => {
    const { signed, only, moveTo, tag } = await signedProd(harness, deps, 'renewed/app');
    await harness.push('renewed/app', 'prod', 'unsigned build');
    // A's clock: its first raise takes 50 s, its second is held too.
    let clock = Date.now();
    const aNow = () => new Date(clock);
    let held = 0;
    const gates = [Promise.withResolvers<void>(), Promise.withResolvers<void>()];
    const inSecond = Promise.withResolvers<void>();
    const sink: typeof alerts = Object.create(alerts);
    sink.raise = async (alert) => {
      const gate = gates[held++];
      if (held === 2) inSecond.resolve();
      if (gate !== undefined) await gate.promise;
      return alerts.raise(alert);
    };
    const passA = reverifyOnce(only({ alerts: sink, now: aNow }));
    await new Promise((r) => setTimeout(r, 50));
    clock += 50_000;
    gates[0]!.resolve();
    await inSecond.promise;
    // 70 s after A stored its verdict, 20 s after it renewed its claim: B must wait for A.
    await moveTo(signed);
    const mark = alerts.calls.length;
    const bNow = new Date(Date.now() + 70_000);
    let bDone = false;
    const passB = reverifyOnce(only({ now: () => bNow })).finally(() => {
      bDone = true;
    });
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(bDone, false, 'B waits for the renewed claim');
    assert.deepEqual(ops(mark, tag), [], 'and delivers nothing meanwhile');
    gates[1]!.resolve();
    const [a, b] = await Promise.all([passA, passB]);
    assert.deepEqual(a.errors, []);
    assert.deepEqual(b.errors, []);
    assert.equal(statusOf(a, tag), 'unsigned');
    assert.equal(statusOf(b, tag), 'valid');
    const order = ops(mark, tag);
    assert.equal(order[0], 'raise tag-moved', `A finished its delivery first: ${order}`);
    assert.ok(
      order.slice(1).every((o) => o.startsWith('resolve')),
      `then B resolved: ${order}`,
    );
    assert.deepEqual(alerts.openKinds(tag), []);
  });

  it('a verdict the store cannot write still has its alerts raised, and the next pass stores it', async () => {
    const { only, moveTo, signed, tag } = await signedProd(harness, deps, 'unstored/app');
    await harness.push('unstored/app', 'prod', 'unsigned build');
    const mark = alerts.calls.length;
    store.failing = true;
    let failed: Awaited<ReturnType<typeof reverifyOnce>>;
    try {
      failed = await reverifyOnce(only());
    } finally {
      store.failing = false;
    }
    assert.match(
      failed.errors.map((e) => e.error).join('\n'),
      /the unsigned verdict of .* could not be stored \(.*UNAVAILABLE\); its alerts \(unsigned-image, tag-moved\) were raised without it/,
    );
    assert.deepEqual(alerts.openKinds(tag), ['tag-moved', 'unsigned-image'], 'raised though not stored');
    assert.deepEqual(ops(mark, tag), ['raise unsigned-image', 'raise tag-moved'], 'and nothing resolved');
    assert.equal(store.records.get(tag)?.status, 'valid', 'the last verdict stands');
    assert.equal(failed.alertsRaised, 2);

    const next = await reverifyOnce(only());
    assert.deepEqual(next.errors, []);
    assert.equal(statusOf(next, tag), 'unsigned');
    assert.equal(store.records.get(tag)?.status, 'unsigned');
    assert.deepEqual(alerts.openKinds(tag), ['tag-moved', 'unsigned-image']);
    await moveTo(signed);
    assert.equal(statusOf(await reverifyOnce(only()), tag), 'valid');
    assert.deepEqual(alerts.openKinds(tag), []);
  });

  it('a verdict not stored whose alerts cannot be raised either says so', async () => {
    const { tag, only } = await signedProd(harness, deps, 'unstored-down/app');
    await harness.push('unstored-down/app', 'prod', 'unsigned build');
    const down: typeof alerts = Object.create(alerts);
    down.raise = async (alert: AlertInput) => {
      if (alert.kind === 'verification-stale') return alerts.raise(alert);
      throw new Error('webhook down');
    };
    store.failing = true;
    let failed: Awaited<ReturnType<typeof reverifyOnce>>;
    try {
      failed = await reverifyOnce(only({ alerts: down }));
    } finally {
      store.failing = false;
    }
    assert.match(
      failed.errors.map((e) => e.error).join('\n'),
      /could not be stored .*; raising its alerts failed too \(unsigned-image: webhook down; tag-moved: webhook down\)/,
    );
    assert.equal(store.records.get(tag)?.status, 'valid');
  });
});
