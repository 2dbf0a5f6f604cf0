/**
 * A monitor run on a log (heads taken as verified) whose pending old tree fails a log integrity
 * check: the monitor follows tree ACTIVE (2 entries, none scanned); tree OLD was left pending at the
 * 3 entries verified of it, and the log now lists it frozen at 5 with a head that does not extend
 * them. Shared by the tests of the run's result and of `sigsentry monitor`'s text.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { MemoryAlertSink } from '../../functions/alerts/memory-sink.ts';
import { createMemoryLogger } from '../../functions/logging/logger.ts';
import { type MonitorRunResult, runMonitor } from '../../functions/monitor-log/core.ts';
import { resolveIdentities } from '../../functions/monitor-log/identities.ts';
import type { MonitoredLog } from '../../functions/monitor-log/log-source.ts';
import { StaticSigningRecordLookup } from '../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore, type MonitorState } from '../../functions/monitor-log/state.ts';
import { formatCheckpointBody } from '../../functions/tlog/checkpoint/checkpoint.ts';
import { rekorV1NoteSigner } from '../../functions/tlog/checkpoint/keys.ts';
import { signNote, type VerifiedCheckpoint } from '../../functions/tlog/checkpoint/verify.ts';
import { LogIntegrityError } from '../../functions/tlog/client/errors.ts';

export const OLD = 'log - old';
export const ACTIVE = 'log - active';
export const FORK = 'the frozen head of 5 does not extend the 3 entries verified of the tree';

const ours = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const theirs = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pemOf = (k: KeyObject) => k.export({ format: 'pem', type: 'spki' }).toString();
const signer = rekorV1NoteSigner('log', theirs.privateKey);
const head = (origin: string, size: number): VerifiedCheckpoint => {
  const checkpoint = { origin, size, rootHash: Buffer.alloc(32, size), extensions: [] };
  return { ...checkpoint, note: signNote(formatCheckpointBody(checkpoint), signer) };
};

/** A store that loses every save once a pending tree's fault is recorded: another run took the log. */
export class LosingAfterFault extends MemoryMonitorStore {
  override async save(next: MonitorState, expectedVersion: number | undefined): Promise<boolean> {
    const stored = this.states.get(next.log);
    if (stored?.previousShards.some((s) => s.pending?.fault !== undefined)) return false;
    return super.save(next, expectedVersion);
  }
}

/**
 * The run, in `store`; `entries` answers the followed tree's reads; `fork` is the integrity error's
 * message; `alerts` records (or fails to record) its alerts.
 */
export async function pendingTreeForked(
  options: {
    store?: MemoryMonitorStore;
    entries?: MonitoredLog['readEntries'];
    fork?: string;
    alerts?: MemoryAlertSink;
  } = {},
): Promise<{ run: MonitorRunResult; alerts: MemoryAlertSink }> {
  const { store = new MemoryMonitorStore(), entries = async () => [], fork = FORK } = options;
  const active = head(ACTIVE, 2);
  store.states.set('fake', {
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
  });
  const log: MonitoredLog = {
    url: 'https://log.example',
    getCheckpoint: async () => active,
    verifyConsistency: async (older) => {
      if (older.origin === OLD)
        throw new LogIntegrityError('inconsistent', fork, { origin: OLD, treeSize: 5 });
    },
    frozenTrees: async () => [{ origin: OLD, size: 5, checkpoint: head(OLD, 5) }],
    readEntries: entries,
  };
  const alerts = options.alerts ?? new MemoryAlertSink();
  const identities = await resolveIdentities([{ type: 'publicKey', pem: pemOf(ours.publicKey) }], () =>
    Promise.reject(new Error('no KMS')),
  );
  const run = await runMonitor({
    logs: [{ name: 'fake', log }],
    store,
    alerts,
    records: new StaticSigningRecordLookup(),
    identities,
    logger: createMemoryLogger(),
  });
  return { run, alerts };
}
