/**
 * monitorLog on the real local stack: Firestore and Pub/Sub emulators, the Rekor and KMS
 * emulators, and signOnPush signing every push. The monitor core runs here, built from the
 * environment exactly as the function builds it; each test monitors under its own log name, so
 * tests share the log without sharing state or alerts.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { Firestore } from '@google-cloud/firestore';
import { type Message, PubSub, type Subscription } from '@google-cloud/pubsub';
import { FirestoreAlertStore } from '../../../functions/alerts/firestore-sink.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { defaultLogName } from '../../../functions/monitor-log/config.ts';
import { type MonitorDeps, runMonitor } from '../../../functions/monitor-log/core.ts';
import { MONITOR_SHARD_COLLECTION } from '../../../functions/monitor-log/fan-out.ts';
import { monitorDepsFromEnv } from '../../../functions/monitor-log/from-env.ts';
import {
  FirestoreMonitorStore,
  MONITOR_COLLECTION,
  monitorDocumentId,
} from '../../../functions/monitor-log/state.ts';
import { FirestoreSigningStore } from '../../../functions/state/signing-records.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import { appendForeignEntry, appendRogueEntry } from '../../helpers/log-entries.ts';
import { makeOciImage } from '../../helpers/oci-layout.ts';
import { runFanOutToEnd } from '../../helpers/shard-messages.ts';
import { skopeoCopy } from '../../helpers/skopeo.ts';
import { freshRepository, sleep, type TestStack, testStack } from '../../helpers/stack.ts';

describe('monitorLog on the local stack', () => {
  let stack: TestStack;
  let firestore: Firestore;
  let pubsub: PubSub;
  let subscription: Subscription;
  const published: Message[] = [];
  let webhook: Server;
  const hooks: Array<{ text: string }> = [];
  let hookAnswers: number[] = [];
  let env: NodeJS.ProcessEnv;
  let rekor: RekorV1Client;
  const logger = createMemoryLogger();

  before(async () => {
    stack = testStack();
    firestore = new Firestore({ projectId: stack.env.GCP_PROJECT, ignoreUndefinedProperties: true });
    pubsub = new PubSub({ projectId: stack.env.GCP_PROJECT });
    [subscription] = await pubsub
      .topic('signing-alerts')
      .createSubscription(`monitor-test-${crypto.randomBytes(4).toString('hex')}`);
    subscription.on('message', (m: Message) => {
      published.push(m);
      m.ack();
    });
    webhook = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const status = hookAnswers.shift() ?? 200;
        if (status === 200) hooks.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', r));
    const publicKey = fs.readFileSync(stack.env.REKOR_PUBLIC_KEY_FILE!, 'utf8');
    env = {
      ...process.env,
      ...stack.env,
      REKOR_PUBLIC_KEY: publicKey,
      ALERT_WEBHOOK_URL: `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hooks/secret`,
    };
    rekor = new RekorV1Client({ baseUrl: stack.env.REKOR_URL!, logKey: publicKey });
  });
  afterEach(async () => {
    await fetch(`${stack.env.REKOR_URL}/__faults`, { method: 'DELETE' });
  });
  after(async () => {
    await subscription.delete();
    await pubsub.close();
    await firestore.terminate();
    await new Promise<void>((r) => webhook.close(() => r()));
  });

  /** The function's dependencies from the environment, monitoring under a fresh log name. */
  async function monitor(): Promise<{ deps: MonitorDeps; name: string }> {
    const deps = await monitorDepsFromEnv(env, { logger, firestore, pubsub });
    const name = `it-${crypto.randomBytes(5).toString('hex')}`;
    deps.logs[0]!.name = name;
    return { deps, name };
  }
  const alerts = () => new FirestoreAlertStore(firestore);
  const state = (name: string) => new FirestoreMonitorStore(firestore).load(name);
  const faults = (f: Record<string, unknown>) =>
    fetch(`${stack.env.REKOR_URL}/__faults`, { method: 'POST', body: JSON.stringify(f) }).then((r) =>
      assert.equal(r.status, 200),
    );
  const foreignEntry = () => appendForeignEntry(rekor);
  const rogueEntry = (label: string) => appendRogueEntry(stack, label);
  async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  }

  it('does not report signOnPush signatures; reports a direct KMS signature as rogue-signature, with evidence, everywhere', async () => {
    const { deps, name } = await monitor();
    assert.equal((await runMonitor(deps)).ok, true);

    const repo = freshRepository('monitor');
    const image = makeOciImage({ tag: 'v1' });
    await skopeoCopy(image.source, `docker://${stack.env.REGISTRY}/${repo}:v1`);
    const signing = new FirestoreSigningStore(firestore);
    const imageRef = `${stack.env.REGISTRY}/${repo}@${image.digest}`;
    await until('signOnPush to sign the image', async () => {
      const record = await signing.get({ image: imageRef, keyVersion: stack.env.KMS_KEY! });
      return record?.state === 'attached' ? record : undefined;
    });

    // The same KMS key, used outside sigsentry.
    const rogueIndex = await rogueEntry('not made by sigsentry');
    await foreignEntry();

    hookAnswers = [500, 502];
    hooks.length = 0;
    const result = await runMonitor(deps);
    assert.equal(result.ok, true, JSON.stringify(result.logs));
    assert.ok((result.logs[0]?.scanned ?? 0) >= 4, 'two signOnPush entries, the rogue one, the foreign one');
    const cursor = (await state(name))!.cursor;
    assert.equal(cursor, result.logs[0]!.treeSize);

    const raised = (await alerts().list({ open: true })).filter((a) =>
      a.key.startsWith(`rogue-signature:${name}:`),
    );
    assert.equal(raised.length, 1, JSON.stringify(raised));
    const alert = raised[0]!;
    assert.equal(alert.evidence.logIndex, rogueIndex);
    assert.equal(alert.evidence.keyVersion, stack.env.KMS_KEY);
    assert.match(String(alert.evidence.entryBodyDigest), /^sha256:[0-9a-f]{64}$/);
    assert.match(String(alert.evidence.uuid), /^[0-9a-f]{80}$/);
    assert.equal(alert.count, 1);

    const message = await until('the Pub/Sub alert', async () =>
      published.find((m) => JSON.parse(m.data.toString()).key === alert.key),
    );
    assert.equal(message.attributes['kind'], 'rogue-signature');
    assert.equal(message.attributes['severity'], 'CRITICAL');
    assert.equal(JSON.parse(message.data.toString()).evidence.logIndex, rogueIndex);

    // The webhook answered 500 and 502 first; the retry delivered it once.
    const delivered = hooks.filter((h) => h.text.includes(`log entry ${rogueIndex} `));
    assert.equal(delivered.length, 1);
    assert.match(delivered[0]!.text, /rogue-signature/);
    assert.ok(
      logger.entries.some(
        (e) => e.severity === 'ALERT' && (e['alert'] as { key?: string } | undefined)?.key === alert.key,
      ),
    );
    assert.ok(!JSON.stringify(logger.entries).includes('/hooks/secret'), 'the webhook URL is never logged');
  });

  for (const [fault, kind] of [
    [{ splitView: true }, 'log-inconsistent'],
    [{ wrongCheckpointKey: true }, 'checkpoint-invalid'],
    [{ shrinkBy: 5 }, 'log-inconsistent'],
  ] as const) {
    it(`${JSON.stringify(fault)} raises ${kind}; the cursor stays`, async () => {
      const { deps, name } = await monitor();
      await runMonitor(deps);
      const before = await state(name);
      for (let i = 0; i < 2; i++) await foreignEntry();
      await faults(fault);
      const result = await runMonitor(deps);
      assert.equal(result.ok, false);
      assert.equal(result.logs[0]?.outcome, kind);
      // The trusted checkpoint and the cursor stay as they were (the run lease came and went).
      const { version: _v, updatedAt: _u, runner, ...kept } = (await state(name))!;
      const { version: _bv, updatedAt: _bu, runner: _br, ...keptBefore } = before!;
      assert.deepEqual(kept, keptBefore);
      assert.equal(runner, null);
      const alert = await alerts().get(`${kind}:${name}`);
      assert.equal(alert?.state, 'open');
      assert.equal(alert?.evidence.logUrl, stack.env.REKOR_URL);
    });
  }

  it('a rewritten entry raises log-inconsistent naming it; the cursor stays before it', async () => {
    const { deps, name } = await monitor();
    await runMonitor(deps);
    const start = (await state(name))!.cursor;
    for (let i = 0; i < 3; i++) await foreignEntry();
    await faults({ rewriteEntry: start + 1 });
    const result = await runMonitor(deps);
    assert.equal(result.logs[0]?.outcome, 'log-inconsistent');
    assert.equal((await state(name))!.cursor, start);
    const alert = await alerts().get(`log-inconsistent:${name}`);
    assert.equal(alert?.evidence.logIndex, start + 1);
  });

  it('a recurring incident is one alert counted twice, and re-opened after it is resolved', async () => {
    const { deps, name } = await monitor();
    await runMonitor(deps);
    await faults({ splitView: true });
    await runMonitor(deps);
    await runMonitor(deps);
    const key = `log-inconsistent:${name}`;
    assert.equal((await alerts().get(key))?.count, 2);
    await deps.alerts.resolve(key, 'investigated: test fault');
    const resolved = await alerts().get(key);
    assert.equal(resolved?.state, 'resolved');
    assert.equal(resolved?.resolvedReason, 'investigated: test fault');
    await runMonitor(deps);
    const reopened = await alerts().get(key);
    assert.equal(reopened?.state, 'open');
    assert.equal(reopened?.count, 3);
    assert.equal(reopened?.resolvedAt, undefined);
  });

  it('a backlog fans out over Pub/Sub: shard messages from the topic are scanned by parallel handlers, and the cursor reaches the head', async () => {
    const topicName = `monitor-shards-${crypto.randomBytes(4).toString('hex')}`;
    const [topic] = await pubsub.createTopic(topicName);
    const [shardSub] = await topic.createSubscription(`${topicName}-sub`);
    try {
      const deps = await monitorDepsFromEnv(
        { ...env, MONITOR_SHARD_TOPIC: topicName },
        { logger, firestore, pubsub },
      );
      assert.ok(deps.fanOut, 'MONITOR_SHARD_TOPIC turns fan-out on');
      const name = `it-${crypto.randomBytes(5).toString('hex')}`;
      deps.logs[0]!.name = name;
      deps.limits = { ...deps.limits, batchSize: 2, fanOutAbove: 5, shardSize: 4 };
      await runMonitor(deps);
      const start = (await state(name))!.cursor;

      for (let i = 0; i < 5; i++) await foreignEntry();
      const rogueIndex = await rogueEntry('fan-out rogue');
      for (let i = 0; i < 4; i++) await foreignEntry();

      await runFanOutToEnd({
        deps,
        name,
        start,
        shardSize: 4,
        subscription: shardSub,
        firestore,
        logger,
      });

      const rogue = (await alerts().list({ open: true })).filter((a) =>
        a.key.startsWith(`rogue-signature:${name}:`),
      );
      assert.deepEqual(
        rogue.map((a) => a.evidence.logIndex),
        [rogueIndex],
      );
      assert.equal(rogue[0]!.count, 1);
    } finally {
      await shardSub.close();
      await shardSub.delete();
      await topic.delete();
    }
  });

  it("the stack's monitorShard function scans the shards monitorLog publishes on monitor-shards", async () => {
    // The served function monitors the log under its configured name: start that log afresh.
    const deps = await monitorDepsFromEnv(env, { logger, firestore, pubsub });
    const name = defaultLogName(stack.env.REKOR_URL!);
    assert.equal(deps.logs[0]!.name, name);
    assert.ok(deps.fanOut, 'the stack sets MONITOR_SHARD_TOPIC');
    await firestore.collection(MONITOR_COLLECTION).doc(monitorDocumentId(name)).delete();
    deps.limits = { ...deps.limits, fanOutAbove: 5, shardSize: 4 };
    await runMonitor(deps);

    for (let i = 0; i < 4; i++) await foreignEntry();
    const rogueIndex = await rogueEntry('served shard rogue');
    for (let i = 0; i < 4; i++) await foreignEntry();

    const planned = await runMonitor(deps);
    assert.equal(planned.logs[0]?.outcome, 'fanned-out', JSON.stringify(planned.logs));
    const plan = (await state(name))!.fanOut!;
    const finished = await until(
      'the served monitorShard to finish every shard',
      async () => {
        const shards = await firestore.collection(MONITOR_SHARD_COLLECTION).where('log', '==', name).get();
        const all = shards.docs.map((d) => d.data());
        const covered = all.reduce((n, d) => n + (d['state'] === 'done' ? d['end'] - d['start'] : 0), 0);
        return covered === plan.end - plan.start ? all : undefined;
      },
      60_000,
    );
    assert.ok(finished.length >= 2);

    const after = await runMonitor(deps);
    assert.equal(after.ok, true, JSON.stringify(after.logs));
    assert.equal((await state(name))!.fanOut, undefined);
    const rogue = (await alerts().list({ open: true })).filter((a) =>
      a.key.startsWith(`rogue-signature:${name}:${rogueIndex}:`),
    );
    assert.equal(rogue.length, 1);
    assert.equal(rogue[0]!.count, 1);
  });
});
