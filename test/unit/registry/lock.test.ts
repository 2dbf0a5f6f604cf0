import assert from 'node:assert/strict';
import { test } from 'node:test';
import { heldSubjectLock, InProcessSubjectLock } from '../../../functions/attach/lock.ts';
import { DependencyError, isRetryable } from '../../../functions/errors.ts';

test('holders of one subject run one at a time, in order; other subjects are not blocked', async () => {
  const lock = new InProcessSubjectLock();
  const events: string[] = [];
  let releaseFirst: () => void = () => {};
  const firstHeld = new Promise<void>((resolve) => {
    releaseFirst = resolve;
  });
  const first = lock.lock('a', async () => {
    events.push('a1 start');
    await firstHeld;
    events.push('a1 end');
  });
  const second = lock.lock('a', async () => {
    events.push('a2');
  });
  await lock.lock('b', async () => {
    events.push('b');
  });
  releaseFirst();
  await Promise.all([first, second]);
  assert.deepEqual(events, ['a1 start', 'b', 'a1 end', 'a2']);
});

test('a failing holder releases the lock and its error reaches only its caller', async () => {
  const lock = new InProcessSubjectLock();
  await assert.rejects(
    lock.lock('a', async () => {
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(await lock.lock('a', async () => 42), 42);
});

test('a waiter gives up after waitMs, retryable, without running; the holders after it still wait their turn', async () => {
  const lock = new InProcessSubjectLock({ waitMs: 40 });
  const events: string[] = [];
  let releaseFirst: () => void = () => {};
  const first = lock.lock('a', async () => {
    events.push('first');
    await new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
  });
  const impatient = lock.lock('a', async () => {
    events.push('impatient ran');
  });
  await assert.rejects(impatient, (err: unknown) => {
    assert.ok(err instanceof DependencyError && isRetryable(err));
    assert.match((err as Error).message, /still held in this instance after 40 ms/);
    return true;
  });
  const third = lock.lock('a', async () => {
    events.push('third');
  });
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(events, ['first'], 'the third holder waits for the first, though the second gave up');
  releaseFirst();
  await Promise.all([first, third]);
  assert.deepEqual(events, ['first', 'third']);
});

test('a held lock runs work for its own subject at once, under its hold, and refuses another subject, not to be retried', async () => {
  const hold = { check() {} };
  const held = heldSubjectLock('registry.example/team/app@sha256:1', hold);
  assert.equal(await held.lock('registry.example/team/app@sha256:1', async () => 7), 7);
  assert.equal(await held.lock('registry.example/team/app@sha256:1', async (h) => h), hold);
  let ran = false;
  await assert.rejects(
    held.lock('registry.example/team/other@sha256:2', async () => {
      ran = true;
    }),
    (err: unknown) => {
      assert.ok(!isRetryable(err));
      assert.match((err as Error).message, /asked for while holding only/);
      return true;
    },
  );
  assert.equal(ran, false);
});
