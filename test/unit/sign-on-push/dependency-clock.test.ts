import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type SubjectLock, UNLAPSING_HOLD } from '../../../functions/attach/lock.ts';
import {
  DependencyClock,
  timedCall,
  timedLock,
  withDependencyClock,
} from '../../../functions/sign-on-push/dependency-calls.ts';

/** A dependency call that takes `ms` and reports how long it really took. */
const call = timedCall('test.call', async (ms: number) => {
  const t = performance.now();
  await sleep(ms);
  return performance.now() - t;
});

describe('DependencyClock: the time a signing waits on its dependencies', () => {
  it('counts calls one after another in full, and calls that overlap once', async () => {
    const sequential = new DependencyClock();
    const took = await withDependencyClock(sequential, async () => [await call(30), await call(30)]);
    const s = sequential.report();
    assert.equal(s.calls, 2);
    assert.ok(s.dependencyMs >= took[0]! + took[1]! - 1, `${s.dependencyMs} covers both calls`);
    assert.ok(s.dependencyMs <= s.totalMs && Math.abs(s.totalMs - s.dependencyMs - s.ownMs) <= 0.2);

    const overlapping = new DependencyClock();
    const both = await withDependencyClock(overlapping, () => Promise.all([call(40), call(40)]));
    const o = overlapping.report();
    assert.equal(o.calls, 2);
    assert.ok(o.dependencyMs >= Math.max(...both) - 1, 'at least the longer call');
    assert.ok(o.dependencyMs <= o.totalMs, 'never more than the wall time: overlap counted once');
  });

  it('keeps concurrent signings apart, and ignores calls made outside any signing', async () => {
    const a = new DependencyClock();
    const b = new DependencyClock();
    await Promise.all([
      withDependencyClock(a, async () => {
        await call(10);
        await call(10);
      }),
      withDependencyClock(b, () => call(10)),
      call(10),
    ]);
    assert.equal(a.report().calls, 2);
    assert.equal(b.report().calls, 1);
  });

  it('times taking and giving back a lock as two dependency calls, and the work under it as itself', async () => {
    // A lock whose taking and giving back each take 30 ms (a lease's round trips).
    const lease: SubjectLock = {
      async lock(_subject, fn) {
        await sleep(30);
        try {
          return await fn(UNLAPSING_HOLD);
        } finally {
          await sleep(30);
        }
      },
    };
    const lock = timedLock(lease);
    const clock = new DependencyClock();
    await withDependencyClock(clock, () =>
      lock.lock('registry.example/team/app@sha256:1', async () => {
        const until = performance.now() + 40; // the holder's own work: not waiting on anything
        while (performance.now() < until);
      }),
    );
    const r = clock.report();
    assert.equal(r.calls, 2);
    assert.ok(r.dependencyMs >= 58 && r.dependencyMs < r.totalMs - 35, JSON.stringify(r));
    assert.ok(r.ownMs >= 38, `the work under the lock is the signing's own: ${JSON.stringify(r)}`);

    // A lock that cannot be taken: the wait is timed and closed.
    const refused = timedLock({
      async lock() {
        await sleep(20);
        throw new Error('held elsewhere');
      },
    });
    const failed = new DependencyClock();
    await assert.rejects(
      withDependencyClock(failed, () => refused.lock('s', async () => 1)),
      /held elsewhere/,
    );
    assert.equal(failed.report().calls, 1);
    assert.ok(failed.report().dependencyMs >= 18);
    const after = failed.report().dependencyMs;
    await withDependencyClock(failed, () => call(10));
    assert.ok(failed.report().dependencyMs >= after + 9, 'the clock was left balanced');

    // A lock that throws at once, rather than rejecting: the clock is left balanced too.
    const throwing = timedLock({
      lock() {
        throw new Error('broken lock');
      },
    });
    const sync = new DependencyClock();
    await assert.rejects(
      withDependencyClock(sync, async () => throwing.lock('s', async () => 1)),
      /broken lock/,
    );
    await withDependencyClock(sync, () => call(10));
    assert.ok(sync.report().dependencyMs >= 9, 'the clock was left balanced after a synchronous throw');
  });
});
