/**
 * A log whose checkpoints move to another tree (origin): a Rekor v1 shard rotation does this, and
 * so could a log replacing its history under a new name. The real RekorV1Client reads a fake log
 * whose checkpoints are signed with the trusted key; the monitor must alert on the change, and a
 * return to an earlier tree must extend what was verified of it.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { runMonitor } from '../../../functions/monitor-log/core.ts';
import type { MonitoredLog } from '../../../functions/monitor-log/log-source.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { formatCheckpointBody } from '../../../functions/tlog/checkpoint/checkpoint.ts';
import { rekorV1NoteSigner } from '../../../functions/tlog/checkpoint/keys.ts';
import { signNote, type VerifiedCheckpoint } from '../../../functions/tlog/checkpoint/verify.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import { consistencyProof, hashLeaf, MemoryLevels, rootAt } from '../../../functions/tlog/merkle/index.ts';
import { unrelatedIdentity as unrelatedIdentityOf } from '../../helpers/unrelated-identity.ts';

const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signer = rekorV1NoteSigner('log.example', key.privateKey);
const unrelatedIdentity = await unrelatedIdentityOf();
const A = 'log.example - 1';
const B = 'log.example - 2';

interface Tree {
  origin: string;
  levels: MemoryLevels;
  note: string;
}
const tree = (origin: string, content: string, size: number): Tree => {
  const levels = new MemoryLevels(
    Array.from({ length: size }, (_, i) => hashLeaf(Buffer.from(`${content} ${i}`))),
  );
  const body = formatCheckpointBody({
    origin,
    size,
    rootHash: Buffer.from(rootAt(levels, size)),
    extensions: [],
  });
  return { origin, levels, note: signNote(body, signer) };
};

/** A Rekor v1 API (checkpoint and consistency proofs) serving whichever tree is current. */
function fakeRekor() {
  let current: Tree | undefined;
  const json = (o: unknown) =>
    new Response(JSON.stringify(o), { headers: { 'content-type': 'application/json' } });
  const fetch = (async (input: string | URL) => {
    const url = new URL(String(input));
    const t = current!;
    if (url.pathname === '/api/v1/log') {
      return json({
        rootHash: Buffer.from(rootAt(t.levels, t.levels.size)).toString('hex'),
        treeSize: t.levels.size,
        signedTreeHead: t.note,
      });
    }
    if (url.pathname === '/api/v1/log/proof') {
      const first = Number(url.searchParams.get('firstSize'));
      const last = Number(url.searchParams.get('lastSize'));
      return json({
        hashes: consistencyProof(t.levels, first, last).map((h) => Buffer.from(h).toString('hex')),
      });
    }
    return new Response('not found', { status: 404 });
  }) as typeof globalThis.fetch;
  const client = new RekorV1Client({
    baseUrl: 'http://rekor.invalid',
    logKey: key.publicKey,
    fetch,
    retries: 0,
  });
  const reads: Array<[number, number]> = [];
  /** Runs once, inside the next read: another run starting while this one scans. */
  let duringRead: (() => Promise<void>) | undefined;
  const log: MonitoredLog = {
    url: 'http://rekor.invalid',
    getCheckpoint: () => client.getCheckpoint(),
    verifyConsistency: (a: VerifiedCheckpoint, b: VerifiedCheckpoint) => client.verifyConsistency(a, b),
    // The entries do not matter here: which ranges are read does.
    readEntries: async (from: number, to: number) => {
      reads.push([from, to]);
      const hook = duringRead;
      duringRead = undefined;
      await hook?.();
      return [];
    },
  };
  const serve = (t: Tree) => {
    current = t;
  };
  const whileReading = (hook: () => Promise<void>) => {
    duringRead = hook;
  };
  return { log, reads, serve, whileReading };
}

function monitor() {
  const rekor = fakeRekor();
  const store = new MemoryMonitorStore();
  const alerts = new MemoryAlertSink();
  const deps = {
    logs: [{ name: 'L', log: rekor.log, startIndex: 0 }],
    store,
    alerts,
    records: new StaticSigningRecordLookup(),
    identities: unrelatedIdentity,
    logger: createMemoryLogger(),
  };
  const run = async (t: Tree) => {
    rekor.serve(t);
    const mark = alerts.raised.length;
    const result = (await runMonitor(deps)).logs[0]!;
    return { result, alerts: alerts.raised.slice(mark), state: store.states.get('L')! };
  };
  return { run, reads: rekor.reads, whileReading: rekor.whileReading };
}

describe('monitorLog: the log moves to another tree', () => {
  it('a new tree is alerted (log-tree-changed, with both checkpoints) and followed from its first entry', async () => {
    const { run, reads } = monitor();
    const a = tree(A, 'a', 6);
    await run(a);
    const b = tree(B, 'b', 3);
    const moved = await run(b);
    assert.equal(moved.result.outcome, 'scanned');
    assert.equal(moved.alerts.length, 1);
    const [alert] = moved.alerts;
    assert.equal(alert!.kind, 'log-tree-changed');
    assert.equal(alert!.severity, 'HIGH');
    assert.deepEqual(alert!.evidence.checkpoints, [a.note, b.note]);
    assert.equal(alert!.evidence['previousOrigin'], A);
    assert.equal(moved.state.origin, B);
    assert.deepEqual(reads.at(-1), [0, 3]);
    // The same tree next time is an ordinary run.
    const again = await run(tree(B, 'b', 5));
    assert.deepEqual(again.alerts, []);
  });

  it('a return to an earlier tree that rewrote it is log-inconsistent, and the monitor stays where it was', async () => {
    const { run } = monitor();
    await run(tree(A, 'a', 4));
    await run(tree(B, 'b', 2));
    const back = await run(tree(A, 'forged', 6));
    assert.equal(back.result.outcome, 'log-inconsistent');
    assert.deepEqual(
      back.alerts.map((a) => [a.kind, a.severity]),
      [['log-inconsistent', 'CRITICAL']],
    );
    assert.equal(back.state.origin, B);
  });

  it('a return to an earlier tree that extends it is alerted and resumes where that tree was left', async () => {
    const { run, reads } = monitor();
    await run(tree(A, 'a', 4));
    await run(tree(B, 'b', 2));
    const back = await run(tree(A, 'a', 7));
    assert.equal(back.result.outcome, 'scanned');
    assert.deepEqual(
      back.alerts.map((a) => a.kind),
      ['log-tree-changed'],
    );
    assert.equal(back.state.origin, A);
    assert.deepEqual(reads.at(-1), [4, 7]);
    assert.deepEqual(
      back.state.previousShards.map((s) => s.origin),
      [B],
    );
  });
});

describe('monitorLog: the run lease holds from a first run and across a tree change', () => {
  it('a run started while a first run scans is busy', async () => {
    const { run, whileReading } = monitor();
    let other: string | undefined;
    whileReading(async () => {
      other = (await run(tree(A, 'a', 6))).result.outcome;
    });
    const first = await run(tree(A, 'a', 6));
    assert.equal(first.result.outcome, 'scanned');
    assert.equal(other, 'busy');
    assert.equal(first.state.runner, null, 'released when the first run ends');
  });

  it('a run started while another follows the log to a new tree is busy', async () => {
    const { run, whileReading, reads } = monitor();
    await run(tree(A, 'a', 6));
    let other: string | undefined;
    whileReading(async () => {
      other = (await run(tree(B, 'b', 3))).result.outcome;
    });
    const marker = reads.length;
    await run(tree(B, 'b', 3));
    assert.equal(other, 'busy');
    assert.deepEqual(reads.slice(marker), [[0, 3]], 'the new tree read once');
  });
});
