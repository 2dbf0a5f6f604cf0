/**
 * `sigsentry monitor --once` in text names each pending tree the run found failing a log integrity
 * check (the run result's `pendingFaults`): the tree's origin, the alert's key, the error, one line
 * each, under the log's line. Before 2026-12-03 only `--json` showed them, so a run that then failed
 * or lost the log to another run said nothing in text of the CRITICAL alert it raised. Such a run
 * exits 1, whatever its end. (A backfill, --from, does not look at pending trees: no fault beside a
 * refused --from.) Driven through the monitor's core on a log as it reads it (heads taken as
 * verified), as test/unit/monitor/pending-fault-outcome.test.ts does.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { monitorExitCode, monitorRunLines } from '../../../functions/cli/commands/monitor.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { type MonitorRunResult, runMonitor } from '../../../functions/monitor-log/core.ts';
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
const FAULT_LINE = `  pending tree "${OLD}" failed a log integrity check (alert log-inconsistent:fake): ${FORK}`;

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
async function pendingTreeForked(
  options: { store?: MemoryMonitorStore; entries?: MonitoredLog['readEntries']; fork?: string } = {},
): Promise<MonitorRunResult> {
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
  const identities = await resolveIdentities([{ type: 'publicKey', pem: pemOf(ours.publicKey) }], () =>
    Promise.reject(new Error('no KMS')),
  );
  return await runMonitor({
    logs: [{ name: 'fake', log }],
    store,
    alerts: new MemoryAlertSink(),
    records: new StaticSigningRecordLookup(),
    identities,
    logger: createMemoryLogger(),
  });
}

describe("`sigsentry monitor --once` names a pending tree's integrity fault in text", () => {
  it('the followed tree scanned: the fault line under the log-inconsistent line, exit 1', async () => {
    const result = await pendingTreeForked();
    const lines = monitorRunLines(result);
    assert.match(lines[0]!, /^fake: log-inconsistent; /, lines.join('\n'));
    assert.ok(lines.includes(FAULT_LINE), lines.join('\n'));
    assert.equal(monitorExitCode(result), 1);
  });

  it('the followed tree then unreadable: the run failed with its own error, and the fault is still named', async () => {
    const unreachable = () => Promise.reject(new DependencyError('rekor', 'entries: connection reset'));
    const result = await pendingTreeForked({ entries: unreachable });
    const lines = monitorRunLines(result);
    assert.match(lines[0]!, /^fake: failed; /, lines.join('\n'));
    assert.ok(lines.includes(FAULT_LINE), lines.join('\n'));
    assert.ok(
      lines.some((l) => l.startsWith('  error: ') && l.includes('connection reset')),
      lines.join('\n'),
    );
    assert.equal(monitorExitCode(result), 1);
  });

  it('the log then taken over by another run: busy, and the fault is still named', async () => {
    const result = await pendingTreeForked({ store: new LosingAfterFault() });
    const lines = monitorRunLines(result);
    assert.match(lines[0]!, /^fake: busy; /, lines.join('\n'));
    assert.ok(lines.includes(FAULT_LINE), lines.join('\n'));
    assert.equal(monitorExitCode(result), 1);
  });

  it("the fault's error cannot add lines of its own", async () => {
    // The error quotes the log (a checkpoint's note refuses controls in an origin; an error need not).
    const forged = 'fake: scanned; tree size 2, cursor 0 → 2, 0 scanned, 0 matched, 0 rogue, 0 unparseable';
    const result = await pendingTreeForked({ fork: `y\n${forged}\u2028${forged}` });
    const lines = monitorRunLines(result);
    const faults = lines.filter((l) => l.startsWith('  pending tree '));
    assert.equal(faults.length, 1, lines.join('\n'));
    assert.ok(faults[0]!.endsWith(`: y\\n${forged}\\u2028${forged}`), faults[0]);
    assert.ok(!lines.some((l) => l.startsWith('fake: scanned')), lines.join('\n'));
  });
});
