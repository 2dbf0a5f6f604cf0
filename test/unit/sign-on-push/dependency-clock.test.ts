import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DependencyClock,
  timedCall,
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
});
