/**
 * Fan-out of a large backlog against the Rekor emulator: the scheduled run splits the backlog
 * into shards, shard runs (here called directly, in any order, some twice, one crashing) scan
 * them, and the log's cursor moves over finished shards only. Counted by alerts: every entry by
 * the owned key has no signing record, so processing it raises its rogue-signature alert.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { type RekorServer, startRekorServer } from '../../../emulators/rekor/server.ts';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { type MonitorDeps, runMonitor, runMonitorShard } from '../../../functions/monitor-log/core.ts';
import {
  MemoryShardStore,
  type ShardDispatcher,
  type ShardMessage,
} from '../../../functions/monitor-log/fan-out.ts';
import { resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import type { MonitoredLog } from '../../../functions/monitor-log/log-source.ts';
import { RekorV1Source } from '../../../functions/monitor-log/rekor-v1-source.ts';
import { createMonitorShardEntry } from '../../../functions/monitor-log/shard-entry.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import { hashedRekordProposal } from '../../helpers/hashedrekord.ts';

const ours = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const theirs = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pemOf = (k: KeyObject) => k.export({ format: 'pem', type: 'spki' }).toString();

let counter = 0;
function hashedrekord(key: { privateKey: KeyObject; publicKey: KeyObject }) {
  return hashedRekordProposal(key, Buffer.from(`fan-out artifact ${counter++} ${Math.random()}`)).body;
}

class QueueDispatcher implements ShardDispatcher {
  readonly queue: ShardMessage[] = [];
  async dispatch(messages: readonly ShardMessage[]): Promise<void> {
    this.queue.push(...messages);
  }
  take(start: number): ShardMessage {
    const i = this.queue.findIndex((m) => m.start === start);
    assert.ok(i >= 0, `a message for shard ${start} was published`);
    return this.queue.splice(i, 1)[0]!;
  }
}

describe('monitorLog fan-out', () => {
  let dir: string;
  let server: RekorServer;
  let client: RekorV1Client;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fan-out-'));
    server = await startRekorServer({ dataDir: dir });
    client = new RekorV1Client({ baseUrl: server.url, logKey: server.publicKeyPem, retries: 1 });
  });
  afterEach(() => server.faults.clear());
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function setup() {
    const name = `fan-${counter++}`;
    const store = new MemoryMonitorStore();
    const shards = new MemoryShardStore();
    const dispatcher = new QueueDispatcher();
    const alerts = new MemoryAlertSink();
    let clock = 1_000_000;
    const deps: MonitorDeps = {
      logs: [{ name, log: new RekorV1Source({ client, url: server.url }) }],
      store,
      alerts,
      records: new StaticSigningRecordLookup(),
      identities: await resolveIdentities([{ type: 'publicKey', pem: pemOf(ours.publicKey) }], () =>
        Promise.reject(new Error('no KMS here')),
      ),
      logger: createMemoryLogger(),
      limits: { batchSize: 10, fanOutAbove: 30, shardSize: 20, shardLeaseMs: 60_000 },
      fanOut: { store: shards, dispatcher },
      now: () => clock,
    };
    await runMonitor(deps); // the first run starts at the current size
    return {
      deps,
      name,
      shards,
      dispatcher,
      alerts,
      state: () => store.states.get(name)!,
      plan: () => store.states.get(name)!.fanOut!.id,
      tick: (ms: number) => {
        clock += ms;
      },
    };
  }

  /** Appends n entries, every third by the owned key; returns the indexes of those. */
  async function appendBacklog(n: number): Promise<number[]> {
    const owned: number[] = [];
    for (let i = 0; i < n; i++) {
      const entry = await client.append(hashedrekord(i % 3 === 0 ? ours : theirs));
      if (i % 3 === 0) owned.push(entry.logIndex);
    }
    return owned;
  }

  it('splits a backlog into shards; the cursor moves over finished shards only; every entry is processed once', async () => {
    const t = await setup();
    const start = t.state().cursor;
    const owned = await appendBacklog(65);

    const planned = await runMonitor(t.deps);
    assert.equal(planned.logs[0]?.outcome, 'fanned-out', JSON.stringify(planned));
    assert.equal(planned.ok, true);
    assert.equal(planned.logs[0]?.dispatched, 4, '65 entries in shards of 20');
    assert.deepEqual(
      t.dispatcher.queue.map((m) => m.start),
      [start, start + 20, start + 40, start + 60],
    );
    assert.equal(t.state().cursor, start, 'nothing is scanned by the planning run');

    // The third shard finishes first: the cursor cannot pass the first two.
    assert.equal((await runMonitorShard(t.deps, t.dispatcher.take(start + 40))).outcome, 'scanned');
    assert.equal((await runMonitor(t.deps)).logs[0]?.outcome, 'fanned-out');
    assert.equal(t.state().cursor, start);

    // The first shard's instance dies after one batch; the redelivery goes on from there.
    const real = t.deps.logs[0]!.log;
    let reads = 0;
    const dying: MonitoredLog = {
      url: real.url,
      getCheckpoint: () => real.getCheckpoint(),
      verifyConsistency: (a, b) => real.verifyConsistency(a, b),
      readEntries: (s, e, head) =>
        ++reads === 2
          ? Promise.reject(new DependencyError('rekor', 'connection reset (injected)'))
          : real.readEntries(s, e, head),
    };
    const first = t.dispatcher.take(start);
    const died = await runMonitorShard(
      { ...t.deps, logs: [{ name: t.name, log: dying }], limits: { ...t.deps.limits, readAhead: 1 } },
      first,
    );
    assert.equal(died.outcome, 'failed');
    assert.equal(t.shards.records.get(`${t.name}:${t.plan()}:${start}`)?.cursor, start + 10);
    assert.equal((await runMonitor(t.deps)).logs[0]?.outcome, 'fanned-out');
    assert.equal(t.state().cursor, start + 10, 'the cursor follows the first shard’s own cursor');
    const resumed = await runMonitorShard(t.deps, first);
    assert.equal(resumed.outcome, 'scanned');
    assert.equal(resumed.from, start + 10);

    // A duplicate delivery of a finished shard does nothing.
    const again = await runMonitorShard(t.deps, { log: t.name, plan: first.plan, start: start + 40 });
    assert.match(again.skipped ?? '', /finished/);

    for (const s of [start + 20, start + 60]) {
      assert.equal((await runMonitorShard(t.deps, t.dispatcher.take(s))).outcome, 'scanned');
    }
    const done = await runMonitor(t.deps);
    assert.equal(done.logs[0]?.outcome, 'scanned', JSON.stringify(done));
    assert.equal(t.state().cursor, start + 65);
    assert.equal(t.state().fanOut, undefined);
    assert.equal(t.shards.records.size, 0, 'shard records are removed once the cursor passed them');

    const alerted = t.alerts.raised.map((a) => a.evidence.logIndex as number).sort((a, b) => a - b);
    assert.deepEqual(alerted, owned, 'each owned entry raised its alert exactly once');

    // A stale message for a shard of a finished plan is acknowledged, not scanned.
    const stale = await runMonitorShard(t.deps, { log: t.name, plan: first.plan, start });
    assert.match(stale.skipped ?? '', /no fan-out in progress/);
  });

  it('deliveries of one shard at once, as to several instances: one scans, the others are acknowledged unscanned; each owned entry alerted once', async () => {
    const t = await setup();
    const start = t.state().cursor;
    const owned = await appendBacklog(45);
    assert.equal((await runMonitor(t.deps)).logs[0]?.outcome, 'fanned-out');
    const messages = t.dispatcher.queue.splice(0);
    assert.equal(messages.length, 3);

    const results = await Promise.all(
      messages.flatMap((m) => [m, m, m]).map((delivery) => runMonitorShard(t.deps, delivery)),
    );
    for (const m of messages) {
      const deliveries = results.filter((r) => r.start === m.start);
      assert.deepEqual(
        deliveries.map((r) => r.skipped ?? r.outcome).sort(),
        ['another instance took the shard first', 'another instance took the shard first', 'scanned'].sort(),
        `shard ${m.start}: ${JSON.stringify(deliveries.map((r) => [r.outcome, r.skipped]))}`,
      );
    }
    const done = await runMonitor(t.deps);
    assert.equal(done.logs[0]?.outcome, 'scanned', JSON.stringify(done));
    assert.equal(t.state().cursor, start + 45);
    const alerted = t.alerts.raised.map((a) => a.evidence.logIndex as number).sort((a, b) => a - b);
    assert.deepEqual(alerted, owned, 'each owned entry raised its alert exactly once');
  });

  it('a delivery while another instance holds the scan lease is acknowledged unscanned; once it runs out, a delivery takes the shard over', async () => {
    const t = await setup();
    const start = t.state().cursor;
    const owned = await appendBacklog(45);
    assert.equal((await runMonitor(t.deps)).logs[0]?.outcome, 'fanned-out');
    const message = t.dispatcher.take(start);
    // An instance took the shard and died without a word: its lease stays in the record.
    const key = `${t.name}:${t.plan()}:${start}`;
    const record = t.shards.records.get(key)!;
    const until = t.deps.now!() + 600_000;
    t.shards.records.set(key, { ...record, scanner: { owner: 'dead instance', until } });

    const held = await runMonitorShard(t.deps, message);
    assert.match(held.skipped ?? '', /another instance is scanning/);
    assert.equal(t.shards.records.get(key)?.cursor, start, 'nothing scanned');
    assert.equal(t.alerts.raised.length, 0);

    t.tick(600_001);
    const took = await runMonitorShard(t.deps, message);
    assert.equal(took.outcome, 'scanned');
    assert.equal(t.shards.records.get(key)?.state, 'done');
    const alerted = t.alerts.raised.map((a) => a.evidence.logIndex as number);
    assert.deepEqual(
      alerted,
      owned.filter((i) => i < start + 20),
    );
  });

  it('a shard whose message was lost is published again when its lease runs out', async () => {
    const t = await setup();
    const start = t.state().cursor;
    await appendBacklog(45);
    await runMonitor(t.deps);
    assert.equal(t.dispatcher.queue.length, 3);
    t.dispatcher.queue.length = 0; // every message lost

    const early = await runMonitor(t.deps);
    assert.equal(early.logs[0]?.dispatched, 0, 'within the lease nothing is published again');
    t.tick(60_001);
    const late = await runMonitor(t.deps);
    assert.equal(late.logs[0]?.dispatched, 3);
    for (const m of [...t.dispatcher.queue]) await runMonitorShard(t.deps, m);
    await runMonitor(t.deps);
    assert.equal(t.state().cursor, start + 45);
  });

  it('a shard being scanned when its message is older than the lease is not published again; each owned entry alerted once', async () => {
    const t = await setup();
    const start = t.state().cursor;
    const owned = await appendBacklog(45);
    await runMonitor(t.deps);
    const message = t.dispatcher.queue.splice(0).find((m) => m.start === start)!;
    t.tick(60_001); // the message waited in Pub/Sub past the shard lease
    const real = t.deps.logs[0]!.log;
    let coordinatorRan = false;
    const slow: MonitoredLog = {
      url: real.url,
      getCheckpoint: () => real.getCheckpoint(),
      verifyConsistency: (a, b) => real.verifyConsistency(a, b),
      readEntries: async (from, to, head) => {
        const entries = await real.readEntries(from, to, head);
        if (!coordinatorRan) {
          coordinatorRan = true;
          await runMonitor(t.deps); // the scheduled run, while this instance scans its first batch
        }
        return entries;
      },
    };
    const scanned = await runMonitorShard({ ...t.deps, logs: [{ name: t.name, log: slow }] }, message);
    assert.equal(scanned.outcome, 'scanned');
    assert.ok(
      t.dispatcher.queue.every((m) => m.start !== start),
      'the shard being scanned was not published again',
    );
    for (const m of t.dispatcher.queue.splice(0)) await runMonitorShard(t.deps, m);
    await runMonitor(t.deps);
    assert.equal(t.state().cursor, start + 45);
    const alerted = t.alerts.raised
      .filter((a) => a.kind === 'rogue-signature')
      .map((a) => a.evidence.logIndex);
    assert.deepEqual(alerted.sort(), [...owned].sort(), 'each owned entry alerted exactly once');
  });

  it('a lying log stops its shard with log-inconsistent, and the cursor never passes that shard', async () => {
    const t = await setup();
    const start = t.state().cursor;
    await appendBacklog(45);
    await runMonitor(t.deps);
    server.faults.set({ rewriteEntry: start + 25 });
    for (const m of [...t.dispatcher.queue]) await runMonitorShard(t.deps, m);
    assert.equal(t.alerts.ofKind('log-inconsistent').length, 1);
    assert.equal(t.alerts.ofKind('log-inconsistent')[0]!.evidence.logIndex, start + 25);
    await runMonitor(t.deps);
    assert.equal(t.state().cursor, start + 20, 'stopped before the shard holding the rewritten entry');
    assert.equal(t.shards.records.get(`${t.name}:${t.plan()}:${start + 20}`)?.cursor, start + 20);
  });

  it('a backfill during a fan-out supersedes the plan: its shards are dropped, its messages refused, and no entry is skipped', async () => {
    const t = await setup();
    const start = t.state().cursor;
    const owned = await appendBacklog(45);
    await runMonitor(t.deps);
    const old = [...t.dispatcher.queue];
    t.dispatcher.queue.length = 0;
    // The first shard of the old plan finishes before the backfill.
    assert.equal((await runMonitorShard(t.deps, old[0]!)).outcome, 'scanned');

    const backfill = await runMonitor({ ...t.deps, from: start });
    assert.equal(backfill.logs[0]?.outcome, 'fanned-out');
    assert.equal(backfill.logs[0]?.dispatched, 3, 'every shard of the backfill, the finished one included');
    assert.notEqual(t.plan(), old[0]!.plan);
    assert.equal(
      [...t.shards.records.keys()].filter((k) => k.includes(old[0]!.plan)).length,
      0,
      'the old plan’s records are gone',
    );
    for (const m of old.slice(1)) {
      assert.match((await runMonitorShard(t.deps, m)).skipped ?? '', /no fan-out in progress/);
    }
    // The new plan's first shard starts where the old one did: it is scanned again, not taken as done.
    for (const m of [...t.dispatcher.queue])
      assert.equal((await runMonitorShard(t.deps, m)).outcome, 'scanned');
    await runMonitor(t.deps);
    assert.equal(t.state().cursor, start + 45);
    const alerted = new Set(t.alerts.raised.map((a) => a.evidence.logIndex as number));
    assert.deepEqual(
      [...alerted].sort((a, b) => a - b),
      owned,
    );
  });

  it('the shard handler acknowledges a malformed message and throws on a dependency failure', async () => {
    const logger = createMemoryLogger();
    const calls: ShardMessage[] = [];
    let fail = false;
    const handler = createMonitorShardEntry({
      logger,
      run: async (m) => {
        calls.push(m);
        return {
          log: m.log,
          start: m.start,
          outcome: fail ? 'failed' : 'scanned',
          scanned: 0,
          matched: 0,
          rogue: 0,
          unparseable: 0,
          deliveryFailures: 0,
          ...(fail ? { error: new DependencyError('rekor', 'down') } : {}),
        };
      },
    });
    const event = (data: unknown) => ({
      type: 'google.cloud.pubsub.topic.v1.messagePublished',
      data: { message: { data: Buffer.from(JSON.stringify(data)).toString('base64') } },
    });
    for (const bad of [
      { log: 'x', plan: 'p' },
      { log: 'x', plan: 'p', start: -1 },
      { log: 'x', plan: 'p', start: 1, extra: true },
      { log: 'x', start: 1 },
      'nope',
    ]) {
      await handler(event(bad));
    }
    assert.equal(calls.length, 0);
    assert.equal(logger.entries.filter((r) => r.severity === 'ERROR').length, 5);
    await handler(event({ log: 'x', plan: 'p', start: 5 }));
    fail = true;
    await assert.rejects(handler(event({ log: 'x', plan: 'p', start: 5 })), /down/);
    assert.equal(calls.length, 2);
  });
});
