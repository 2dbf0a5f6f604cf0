/**
 * Giving up a pending tree (abandon-tree.ts): refused without a reason, for a tree that is not
 * pending or a log without a state, each naming what is; a state other runs keep writing is a
 * retryable error, never a silent loss of the decision.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidInputError, SigsentryError } from '../../../functions/errors.ts';
import { abandonPendingTree } from '../../../functions/monitor-log/abandon-tree.ts';
import { MemoryMonitorStore, type MonitorState } from '../../../functions/monitor-log/state.ts';

function stateWith(previousShards: MonitorState['previousShards']): MonitorState {
  return {
    schemaVersion: 1,
    log: 'rekor',
    url: 'https://rekor.example',
    origin: 'rekor.example - 2',
    checkpoint: '',
    treeSize: 5,
    cursor: 5,
    version: 4,
    updatedAt: '2026-12-03T00:00:00.000Z',
    previousShards,
  };
}

describe('abandoning a pending tree', () => {
  const pending = { origin: 'rekor.example - 1', checkpoint: '', cursor: 7, pending: { size: 12 } };
  const done = { origin: 'rekor.example - 0', checkpoint: 'note', cursor: 40 };

  it('is refused without a reason, naming why', async () => {
    const store = new MemoryMonitorStore();
    store.states.set('rekor', stateWith([pending]));
    await assert.rejects(
      abandonPendingTree(store, { log: 'rekor', origin: pending.origin, reason: '  ' }),
      (err: unknown) => err instanceof InvalidInputError && /needs a reason/.test(err.message),
    );
    assert.deepEqual(store.states.get('rekor')?.previousShards, [pending], 'nothing written');
  });

  it('is refused for a tree that is not pending, naming those that are', async () => {
    const store = new MemoryMonitorStore();
    store.states.set('rekor', stateWith([done, pending]));
    await assert.rejects(
      abandonPendingTree(store, { log: 'rekor', origin: done.origin, reason: 'x' }),
      (err: unknown) =>
        err instanceof InvalidInputError &&
        err.message.includes(`has no pending tree "${done.origin}"; pending: "${pending.origin}"`),
    );
    await assert.rejects(
      abandonPendingTree(store, { log: 'other', origin: pending.origin, reason: 'x' }),
      (err: unknown) => err instanceof InvalidInputError && /has no monitor state/.test(err.message),
    );
  });

  it('leaves the other trees as they are, and writes over the version it read', async () => {
    const store = new MemoryMonitorStore();
    store.states.set('rekor', stateWith([done, pending]));
    const out = await abandonPendingTree(store, { log: 'rekor', origin: pending.origin, reason: 'gone' });
    assert.deepEqual([out.cursor, out.size], [7, 12]);
    const state = store.states.get('rekor')!;
    assert.equal(state.version, 5);
    assert.deepEqual(state.previousShards[0], done);
    assert.equal(state.previousShards[1]?.pending, undefined);
    assert.equal(state.previousShards[1]?.abandoned?.reason, 'gone');
  });

  it('gives up, retryable, when other runs keep writing the state first', async () => {
    const store = new MemoryMonitorStore();
    store.states.set('rekor', stateWith([pending]));
    let saves = 0;
    store.save = async () => {
      saves++;
      return false;
    };
    await assert.rejects(
      abandonPendingTree(store, { log: 'rekor', origin: pending.origin, reason: 'gone' }),
      (err: unknown) =>
        err instanceof SigsentryError && err.retryable && /still pending: try again/.test(err.message),
    );
    assert.equal(saves, 3);
  });
});
