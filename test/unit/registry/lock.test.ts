import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InProcessSubjectLock } from '../../../functions/attach/lock.ts';

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
