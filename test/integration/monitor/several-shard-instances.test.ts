/**
 * monitorShard across several real instances: every shard message monitorLog publishes on
 * `monitor-shards` goes to three separate Functions Framework processes serving monitorShard — the
 * stack's own, fed by `monitorShard-monitor-shards`, and two started here, each fed by its own push
 * subscription on the topic. Each process builds its own dependencies and shares only Firestore, KMS,
 * Pub/Sub and the log: duplicate, concurrent scans of the same shard by real instances.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { waitFor } from '../../../emulators/stack/ports.ts';
import { groupAlive } from '../../../emulators/stack/processes.ts';
import { CRASH_LINE } from '../../../emulators/stack/stack.ts';
import { FirestoreAlertStore } from '../../../functions/alerts/firestore-sink.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { defaultLogName } from '../../../functions/monitor-log/config.ts';
import { runMonitor } from '../../../functions/monitor-log/core.ts';
import { MONITOR_SHARD_COLLECTION, shardEnd, shardStarts } from '../../../functions/monitor-log/fan-out.ts';
import { monitorDepsFromEnv } from '../../../functions/monitor-log/from-env.ts';
import {
  FirestoreMonitorStore,
  MONITOR_COLLECTION,
  monitorDocumentId,
} from '../../../functions/monitor-log/state.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import { type FunctionInstance, linesOf, startExtraInstances } from '../../helpers/function-instances.ts';
import { appendForeignEntry, appendRogueEntry } from '../../helpers/log-entries.ts';
import { type TestStack, testStack } from '../../helpers/stack.ts';

const EXTRA_INSTANCES = ['b', 'c'] as const;
const SHARD_SIZE = 4;
/** Foreign entries before and after the rogue one: 33 entries, 9 shards of 4 (the last of 1). */
const BEFORE_ROGUE = 18;
const AFTER_ROGUE = 14;

/** What one process did with one shard: runMonitorShard's closing line (outcome) or skip notice. */
interface ShardTally {
  /** Outcome lines by outcome (`scanned`, `busy` = lost the race to another instance, `failed`, …). */
  outcomes: Record<string, number>;
  /** Skip notices by reason (`the shard is finished`, …). */
  skips: Record<string, number>;
  /** Entries this process scanned and recorded in the shard (its `scanned` count). */
  scannedEntries: number;
}

/**
 * Each process's handling of each shard of the plan, read from its own log. runMonitorShard ends
 * every delivery it accepts with `monitor shard S of L: <outcome>` (fields `start`, `outcome`,
 * `scanned`) and refuses the others with `monitor shard S of L skipped: <why>` (fields `plan`, `start`).
 */
/** An entry's alert key without the prefix of its body's digest that ends it (monitor-log/alerts.ts). */
const withoutBodyDigest = (key: string | undefined) => key?.replace(/:[0-9a-f]{32}$/, '');

function tally(instances: FunctionInstance[], log: string, plan: string, starts: number[], rogueKey: string) {
  const counts = new Map<string, Map<number, ShardTally>>();
  /** Raises of the rogue alert per process: `new` (its ALERT line) or `repeat` (a NOTICE line). */
  const rogueRaises = new Map<string, Record<string, number>>();
  for (const instance of instances) {
    const perShard = new Map<number, ShardTally>(
      starts.map((s) => [s, { outcomes: {}, skips: {}, scannedEntries: 0 }]),
    );
    counts.set(instance.name, perShard);
    const raises: Record<string, number> = {};
    rogueRaises.set(instance.name, raises);
    for (const e of linesOf(instance).entries) {
      const message = e.message ?? '';
      if (withoutBodyDigest((e['alert'] as { key?: string } | undefined)?.key) === rogueKey) {
        const status = String(e['alertStatus']);
        raises[status] = (raises[status] ?? 0) + 1;
        continue;
      }
      if (e['log'] !== log || !message.startsWith('monitor shard ')) continue;
      const start = e['start'];
      if (typeof start !== 'number') continue;
      const c = perShard.get(start);
      const skipped = /^monitor shard \d+ of .* skipped: (.*)$/.exec(message);
      if (skipped) {
        if (e['plan'] !== plan || !c) continue; // the warm-up message, or another plan
        c.skips[skipped[1]!] = (c.skips[skipped[1]!] ?? 0) + 1;
      } else if (typeof e['outcome'] === 'string' && c) {
        c.outcomes[e['outcome']] = (c.outcomes[e['outcome']] ?? 0) + 1;
        c.scannedEntries += typeof e['scanned'] === 'number' ? e['scanned'] : 0;
      }
    }
  }
  return { counts, rogueRaises };
}

/** Deliveries a process closed for a shard (each delivery ends in one outcome or one skip). */
const handled = (c: ShardTally) =>
  Object.values(c.outcomes).reduce((n, k) => n + k, 0) + Object.values(c.skips).reduce((n, k) => n + k, 0);

describe('several monitorShard instances receive every shard message at once', () => {
  let stack: TestStack;
  let firestore: Firestore;
  let pubsub: PubSub;
  let env: NodeJS.ProcessEnv;
  let rekor: RekorV1Client;
  const logger = createMemoryLogger();
  let instances: FunctionInstance[] = [];
  let stopInstances: (() => Promise<void>) | undefined;

  before(async () => {
    stack = testStack();
    firestore = new Firestore({ projectId: stack.env.GCP_PROJECT, ignoreUndefinedProperties: true });
    pubsub = new PubSub({ projectId: stack.env.GCP_PROJECT });
    const publicKey = fs.readFileSync(stack.env.REKOR_PUBLIC_KEY_FILE!, 'utf8');
    env = { ...process.env, ...stack.env, REKOR_PUBLIC_KEY: publicKey };
    rekor = new RekorV1Client({ baseUrl: stack.env.REKOR_URL!, logKey: publicKey });

    ({ instances, stop: stopInstances } = await startExtraInstances(
      stack,
      pubsub,
      'monitorShard',
      EXTRA_INSTANCES,
    ));
  });

  after(async () => {
    await stopInstances?.();
    await pubsub?.close();
    await firestore?.terminate();
  });

  const foreignEntry = () => appendForeignEntry(rekor);
  const rogueEntry = (label: string) => appendRogueEntry(stack, label);

  test('each shard is scanned to its end once, the rogue entry alerted once, though three instances race for every shard', {
    timeout: 90_000,
  }, async (t) => {
    const testStart = new Date().toISOString();
    // The served functions monitor the log under its configured name: start that log afresh.
    const deps = await monitorDepsFromEnv(env, { logger, firestore, pubsub });
    const name = defaultLogName(stack.env.REKOR_URL!);
    assert.equal(deps.logs[0]!.name, name);
    assert.ok(deps.fanOut, 'the stack sets MONITOR_SHARD_TOPIC');
    await firestore.collection(MONITOR_COLLECTION).doc(monitorDocumentId(name)).delete();
    deps.limits = { ...deps.limits, fanOutAbove: 5, shardSize: SHARD_SIZE };
    await runMonitor(deps);

    // Warm every process up (each builds its clients and resolves the KMS key on its first
    // message), so that the shards below reach three ready instances: a stale shard message,
    // acknowledged with a skip notice by each.
    const warmUp = `warm-up-${crypto.randomUUID()}`;
    await pubsub.topic('monitor-shards').publishMessage({ json: { log: name, plan: warmUp, start: 0 } });
    await waitFor(
      'every monitorShard process to handle the warm-up message',
      async () =>
        instances.every((i) =>
          linesOf(i).entries.some((e) => e['plan'] === warmUp && e.message?.includes('skipped')),
        ),
      { timeoutMs: 30_000, intervalMs: 200 },
    );

    for (let i = 0; i < BEFORE_ROGUE; i++) await foreignEntry();
    const rogueIndex = await rogueEntry('several shard instances rogue');
    for (let i = 0; i < AFTER_ROGUE; i++) await foreignEntry();
    const rogueKey = `rogue-signature:${name}:${rogueIndex}`;

    const planned = await runMonitor(deps);
    assert.equal(planned.logs[0]?.outcome, 'fanned-out', JSON.stringify(planned.logs));
    const plan = (await new FirestoreMonitorStore(firestore).load(name))!.fanOut!;
    const starts = shardStarts(plan);
    assert.ok(starts.length >= 8, `${starts.length} shards`);
    assert.equal(planned.logs[0]?.dispatched, starts.length);
    assert.ok(rogueIndex >= plan.start && rogueIndex < plan.end, 'the rogue entry is inside the plan');

    const shardRecords = async () =>
      (await firestore.collection(MONITOR_SHARD_COLLECTION).where('log', '==', name).get()).docs
        .map((d) => d.data())
        .filter((d) => d['plan'] === plan.id);
    let records: FirebaseFirestore.DocumentData[] = [];
    await waitFor(
      'the three monitorShard processes to finish every shard',
      async () => {
        records = await shardRecords();
        return records.length === starts.length && records.every((r) => r['state'] === 'done');
      },
      { timeoutMs: 45_000, intervalMs: 200 },
    ).catch(() => {}); // the assertion below shows which shard is not done

    // Every shard done, its cursor at its end: nothing left unscanned.
    assert.deepEqual(
      records
        .map((r) => ({ start: r['start'], end: r['end'], cursor: r['cursor'], state: r['state'] }))
        .sort((a, b) => a.start - b.start),
      starts.map((s) => ({ start: s, end: shardEnd(plan, s), cursor: shardEnd(plan, s), state: 'done' })),
    );

    // Let the deliveries settle: every process closed every shard's delivery (scanned, lost the
    // race, or skipped it as finished), and nothing new for 1 s. Past the timeout the assertions
    // below show which process did not handle which shard.
    let { counts, rogueRaises } = tally(instances, name, plan.id, starts, rogueKey);
    let lastHandled = -1;
    let quietSince = Date.now();
    await waitFor(
      'every process to handle every shard',
      async () => {
        ({ counts, rogueRaises } = tally(instances, name, plan.id, starts, rogueKey));
        const all = [...counts.values()].flatMap((m) => [...m.values()]);
        const total = all.reduce((n, c) => n + handled(c), 0);
        if (total !== lastHandled) {
          lastHandled = total;
          quietSince = Date.now();
        }
        return all.every((c) => handled(c) > 0) && Date.now() - quietSince >= 1000;
      },
      { timeoutMs: 20_000, intervalMs: 250 },
    ).catch(() => {});

    const names = instances.map((i) => i.name);
    const detail = JSON.stringify(
      Object.fromEntries(names.map((n) => [n, Object.fromEntries(counts.get(n)!)])),
    );
    t.diagnostic(
      `plan ${plan.start}..${plan.end}, rogue entry ${rogueIndex}; per process and shard: ${detail}`,
    );

    // A final run closes the plan: the cursor moves to its end and the shard records go.
    const closed = await runMonitor(deps);
    assert.equal(closed.ok, true, JSON.stringify(closed.logs));
    const state = (await new FirestoreMonitorStore(firestore).load(name))!;
    assert.equal(state.fanOut, undefined, 'the plan is closed');
    assert.ok(state.cursor >= plan.end, `cursor ${state.cursor} reached the plan's end ${plan.end}`);
    assert.equal(state.cursor, closed.logs[0]!.treeSize, 'and the head');
    assert.equal((await shardRecords()).length, 0, 'shard records are removed');

    // No process died or met an unhandled rejection (the Functions Framework logs either, then exits).
    for (const instance of instances) {
      assert.ok(groupAlive(instance.pid), `${instance.name} (pid ${instance.pid}) is still running`);
      assert.doesNotMatch(linesOf(instance).text, CRASH_LINE, `${instance.name} crashed`);
    }

    // The rogue entry: one incident, raised once, and no other alert for this log in this test.
    const alerts = (await new FirestoreAlertStore(firestore).list({ limit: 1000 })).filter(
      (a) =>
        a.lastSeen >= testStart && (a.key === `${a.kind}:${name}` || a.key.startsWith(`${a.kind}:${name}:`)),
    );
    assert.deepEqual(
      alerts.map((a) => ({
        key: withoutBodyDigest(a.key),
        state: a.state,
        count: a.count,
        logIndex: a.evidence.logIndex,
      })),
      [{ key: rogueKey, state: 'open', count: 1, logIndex: rogueIndex }],
      `alerts for ${name}: ${JSON.stringify(alerts)}\nper process and shard: ${detail}`,
    );
    // The served processes log each raise (ALERT when new, NOTICE when a repeat): one in all.
    const raises = names.flatMap((n) =>
      Object.entries(rogueRaises.get(n)!).map(([status, k]) => `${n}:${status}x${k}`),
    );
    assert.deepEqual(
      raises,
      [raises.find((r) => r.endsWith(':newx1'))],
      `rogue alert raises: ${raises.join(', ')}`,
    );

    // Every process received every shard and closed each delivery; none failed.
    for (const n of names) {
      for (const [start, c] of counts.get(n)!) {
        assert.ok(handled(c) > 0, `${n} never handled shard ${start}: ${detail}`);
        for (const outcome of Object.keys(c.outcomes)) {
          assert.ok(['scanned', 'busy'].includes(outcome), `${n} shard ${start}: ${outcome}\n${detail}`);
        }
      }
    }
    // Each shard's entries were recorded by the scans exactly once across the processes: a scan
    // that lost the race recorded nothing (its `scanned` count stays 0).
    for (const start of starts) {
      const recorded = names.reduce((n, name) => n + counts.get(name)!.get(start)!.scannedEntries, 0);
      assert.equal(recorded, shardEnd(plan, start) - start, `shard ${start}: ${detail}`);
    }

    // The race happened: at least one delivery reached a shard another process held (it took the
    // shard's scan lease first, or still held it), or lost a save to another process (`busy`).
    const contended = (c: { outcomes: Record<string, number>; skips: Record<string, number> }) =>
      (c.outcomes['busy'] ?? 0) +
      Object.entries(c.skips)
        .filter(([why]) => why.startsWith('another instance'))
        .reduce((k, [, v]) => k + v, 0);
    const lostRaces = names.flatMap((n) =>
      [...counts.get(n)!].filter(([, c]) => contended(c) > 0).map(([s]) => `${n}@${s}`),
    );
    assert.ok(lostRaces.length > 0, `no scan lost the race to another process: ${detail}`);
    const scannedBy: Record<string, number> = {};
    const skippedFinished: Record<string, number> = {};
    for (const n of names) {
      for (const c of counts.get(n)!.values()) {
        scannedBy[n] = (scannedBy[n] ?? 0) + (c.outcomes['scanned'] ?? 0);
        skippedFinished[n] = (skippedFinished[n] ?? 0) + Object.values(c.skips).reduce((k, v) => k + v, 0);
      }
    }
    t.diagnostic(
      `${starts.length} shards; scanned to the end by ${JSON.stringify(scannedBy)}; ` +
        `lost the race: ${lostRaces.join(' ')}; skipped (finished, or held by another): ${JSON.stringify(skippedFinished)}; ` +
        `rogue alert raised by ${raises.join(', ')}`,
    );
  });
});
