/**
 * A pending old tree that fails a log integrity check is alerted, recorded on the tree
 * (pending.fault), and the followed tree is scanned in the same run. Found by a review of the
 * session's changes (LOW): when that scan then ended the run `failed` (the log unreachable) or
 * `busy` (another run took the log over), the run's result no longer said anything of the fault,
 * though its CRITICAL alert was raised. The result now names it (`pendingFaults`), whatever the
 * run's end. On a log as the monitor reads it (heads taken as verified).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { runMonitor } from '../../../functions/monitor-log/core.ts';
import { resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import type { MonitoredLog } from '../../../functions/monitor-log/log-source.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore, type MonitorState } from '../../../functions/monitor-log/state.ts';
import { formatCheckpointBody } from '../../../functions/tlog/checkpoint/checkpoint.ts';
import { rekorV1NoteSigner } from '../../../functions/tlog/checkpoint/keys.ts';
import { signNote, type VerifiedCheckpoint } from '../../../functions/tlog/checkpoint/verify.ts';
import { LogIntegrityError } from '../../../functions/tlog/client/errors.ts';

const ours = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const theirs = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pemOf = (k: KeyObject) => k.export({ format: 'pem', type: 'spki' }).toString();
const signer = rekorV1NoteSigner('log', theirs.privateKey);
const head = (origin: string, size: number): VerifiedCheckpoint => {
  const checkpoint = { origin, size, rootHash: Buffer.alloc(32, size), extensions: [] };
  return { ...checkpoint, note: signNote(formatCheckpointBody(checkpoint), signer) };
};

const OLD = 'log - old';
const ACTIVE = 'log - active';
const FORK = 'the frozen head of 5 does not extend the 3 entries verified of the tree';

/** A store that loses every save once a pending tree's fault is recorded: another run took the log. */
class LosingAfterFault extends MemoryMonitorStore {
  override async save(next: MonitorState, expectedVersion: number | undefined): Promise<boolean> {
    const stored = this.states.get(next.log);
    if (stored?.previousShards.some((s) => s.pending?.fault !== undefined)) return false;
    return super.save(next, expectedVersion);
  }
}

/**
 * The monitor follows tree ACTIVE (2 entries, none scanned); tree OLD was left pending at the 3
 * entries verified of it, and the log now lists it frozen at 5 with a head that does not extend
 * them. `entries` answers the followed tree's reads.
 */
async function pendingTreeForked(store: MemoryMonitorStore, entries: MonitoredLog['readEntries']) {
  const active = head(ACTIVE, 2);
  const state: MonitorState = {
    schemaVersion: 1,
    log: 'fake',
    url: 'https://log.example',
    origin: ACTIVE,
    checkpoint: active.note,
    treeSize: 2,
    cursor: 0,
    version: 1,
    updatedAt: '',
    previousShards: [{ origin: OLD, checkpoint: head(OLD, 3).note, cursor: 3, pending: { size: 3 } }],
    listedFrozen: [OLD],
  };
  store.states.set('fake', state);
  const log: MonitoredLog = {
    url: 'https://log.example',
    getCheckpoint: async () => active,
    verifyConsistency: async (older) => {
      if (older.origin === OLD) {
        throw new LogIntegrityError('inconsistent', FORK, { origin: OLD, treeSize: 5 });
      }
    },
    frozenTrees: async () => [{ origin: OLD, size: 5, checkpoint: head(OLD, 5) }],
    readEntries: entries,
  };
  const alerts = new MemoryAlertSink();
  const identities = await resolveIdentities([{ type: 'publicKey', pem: pemOf(ours.publicKey) }], () =>
    Promise.reject(new Error('no KMS')),
  );
  const result = await runMonitor({
    logs: [{ name: 'fake', log }],
    store,
    alerts,
    records: new StaticSigningRecordLookup(),
    identities,
    logger: createMemoryLogger(),
  });
  return { result: result.logs[0]!, alerts };
}

const named = [{ origin: OLD, alert: 'log-inconsistent:fake', error: FORK }];

describe("a pending tree's integrity fault in the run's result", () => {
  it('the followed tree scanned: the run ends log-inconsistent, naming the tree', async () => {
    const { result, alerts } = await pendingTreeForked(new MemoryMonitorStore(), async () => []);
    assert.equal(result.outcome, 'log-inconsistent', JSON.stringify(result));
    assert.deepEqual(result.pendingFaults, named);
    assert.equal(alerts.ofKind('log-inconsistent')[0]?.severity, 'CRITICAL');
  });

  it('the followed tree then unreadable: the run failed, and still names the fault', async () => {
    const unreachable = () => Promise.reject(new DependencyError('rekor', 'entries: connection reset'));
    const { result, alerts } = await pendingTreeForked(new MemoryMonitorStore(), unreachable);
    assert.equal(result.outcome, 'failed', JSON.stringify(result));
    assert.match(String((result.error as Error).message), /connection reset/, 'why it failed');
    assert.deepEqual(result.pendingFaults, named, 'and the fault it found first');
    assert.equal(alerts.ofKind('log-inconsistent').length, 1);
  });

  it('the log then taken over by another run: busy, and still names the fault', async () => {
    const store = new LosingAfterFault();
    const { result, alerts } = await pendingTreeForked(store, async () => []);
    assert.equal(result.outcome, 'busy', JSON.stringify(result));
    assert.equal(store.states.get('fake')?.previousShards[0]?.pending?.fault?.error, FORK, 'recorded');
    assert.deepEqual(result.pendingFaults, named);
    assert.equal(alerts.ofKind('log-inconsistent').length, 1);
  });
});
