import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Firestore } from '@google-cloud/firestore';
import { FirestoreAlertStore } from '../../../functions/alerts/firestore-sink.ts';
import { alertSinkFromEnv } from '../../../functions/alerts/from-env.ts';
import type { DashboardView } from '../../../functions/dashboard/view.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { defaultLogName } from '../../../functions/monitor-log/config.ts';
import { NO_LOG_NOTE } from '../../../functions/monitor-log/core.ts';
import {
  FirestoreMonitorStore,
  MONITOR_RUNS_COLLECTION,
  NO_LOG_RUN_DOCUMENT,
} from '../../../functions/monitor-log/state.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { FirestoreSigningStore } from '../../../functions/state/signing-records.ts';
import { appendFillerEntry } from '../../helpers/hashedrekord.ts';
import { makeOciImage } from '../../helpers/oci-layout.ts';
import { skopeoCopy } from '../../helpers/skopeo.ts';
import { freshRepository, type TestStack, testStack, withSignOnPushHeldBack } from '../../helpers/stack.ts';

const execute = promisify(execFile);
const CLI = path.resolve('functions/cli/sigsentry.ts');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
async function sigsentry(...args: string[]): Promise<Run> {
  return sigsentryWith(process.env, ...args);
}
async function sigsentryWith(env: NodeJS.ProcessEnv, ...args: string[]): Promise<Run> {
  return execute(process.execPath, [CLI, ...args], { env, maxBuffer: 16 << 20 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: e.code ?? 1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
    }),
  );
}

describe('sigsentry sign, monitor and alerts on the local stack', () => {
  let stack: TestStack;
  before(() => {
    stack = testStack();
  });

  test('bad arguments exit 2 with a clear message', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['sign'], /give either IMAGE or --backfill/],
      [['sign', 'a:b', '--backfill', 'h/r'], /give either IMAGE or --backfill/],
      [['sign', 'not a reference'], /sigsentry sign: /],
      [['sign', '--concurrency', '0', '--backfill', 'h/r'], /--concurrency/],
      [['sign', '--wat'], /Unknown option/],
      [['monitor'], /only --once/],
      [['reverify'], /only --once/],
      [['monitor', '--once', '--from=-3'], /--from must be a log index/],
      [['alerts', '--limit', 'lots'], /--limit/],
      [['alerts', 'extra'], /unexpected argument|Unexpected argument/],
      [['alerts', 'resolve'], /give the alert's KEY and --reason/],
      [['alerts', 'resolve', 'some-key'], /give the alert's KEY and --reason/],
      [['alerts', 'resolve', 'some-key', '--reason', '  '], /give the alert's KEY and --reason/],
      [['status', '--repository'], /argument missing|requires an argument|expects an argument/i],
    ];
    for (const [args, message] of cases) {
      const run = await sigsentry(...args);
      assert.equal(run.code, 2, `sigsentry ${args.join(' ')} exits 2`);
      assert.match(run.stderr, message, `sigsentry ${args.join(' ')} says why`);
    }
  });

  test('--help for every command exits 0 with its usage', async () => {
    for (const command of ['sign', 'verify', 'reverify', 'monitor', 'alerts', 'status', 'stack']) {
      const run = await sigsentry(command, '--help');
      assert.equal(run.code, 0, `${command} --help`);
      assert.match(run.stdout, /usage: sigsentry/);
    }
  });

  test('sign --backfill signs every unsigned digest of a repository, with a summary', async () => {
    const repository = freshRepository('backfill');
    const images = [makeOciImage({ tag: 'a' }), makeOciImage({ tag: 'b' })];
    const registry = new RegistryClient({ allowedHosts: [stack.env.REGISTRY!] });
    await withSignOnPushHeldBack(stack, async () => {
      await skopeoCopy(images[0]!.source, `docker://${stack.env.REGISTRY}/${repository}:a`);
      await skopeoCopy(images[1]!.source, `docker://${stack.env.REGISTRY}/${repository}:b`);
      // A second tag on the first image: two tags, one digest, signed once.
      await skopeoCopy(images[0]!.source, `docker://${stack.env.REGISTRY}/${repository}:c`);
      const run = await sigsentry('sign', '--backfill', `${stack.env.REGISTRY}/${repository}`, '--json');
      assert.equal(run.code, 0, run.stderr);
      const summary = JSON.parse(run.stdout) as {
        images: number;
        signed: number;
        alreadySigned: number;
        failed: number;
      };
      assert.equal(summary.images, 2, 'three tags, two digests');
      assert.equal(summary.failed, 0);
      assert.equal(summary.signed, 2, 'both digests were signed by the backfill');
    });
    for (const image of images) {
      const sig = await registry.getManifest(
        { host: stack.env.REGISTRY!, repository },
        `sha256-${image.digest.slice(7)}.sig`,
      );
      assert.ok(sig.bytes.length > 0);
    }
    const again = await sigsentry('sign', `${stack.env.REGISTRY}/${repository}:a`);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /already-signed/);
  });

  test('sign --backfill judges a tag shaped like a signature artifact by its manifest, not its name', async () => {
    const repository = freshRepository('backfill-digest-tags');
    const image = makeOciImage({ tag: 'a' });
    const registry = new RegistryClient({ allowedHosts: [stack.env.REGISTRY!] });
    // A runnable image a pipeline tagged by digest (any digest: the name is all that is digest-like).
    const digestTag = `sha256-${'5'.repeat(64)}`;
    await withSignOnPushHeldBack(stack, async () => {
      await skopeoCopy(image.source, `docker://${stack.env.REGISTRY}/${repository}:${digestTag}`);
      const run = await sigsentry('sign', '--backfill', `${stack.env.REGISTRY}/${repository}`, '--json');
      assert.equal(run.code, 0, run.stderr);
      const summary = JSON.parse(run.stdout) as { images: number; signed: number };
      assert.deepEqual([summary.images, summary.signed], [1, 1], run.stdout);
    });
    const sig = await registry.getManifest(
      { host: stack.env.REGISTRY!, repository },
      `sha256-${image.digest.slice(7)}.sig`,
    );
    assert.ok(sig.bytes.length > 0, 'the image under the digest-shaped tag is signed');
    // Backfilled again, the signature's own tags are read and skipped as artifacts by their manifests.
    const again = await sigsentry('sign', '--backfill', `${stack.env.REGISTRY}/${repository}`, '--json');
    assert.equal(again.code, 0, again.stderr);
    const rerun = JSON.parse(again.stdout) as {
      alreadySigned: number;
      failed: number;
      results: Array<{ outcome: string; detail?: string }>;
    };
    assert.equal(rerun.alreadySigned, 1, again.stdout);
    assert.equal(rerun.failed, 0, again.stdout);
    assert.ok(
      rerun.results
        .filter((r) => r.outcome === 'skipped')
        .every((r) => /signature|referrer|index/.test(r.detail ?? '')),
      again.stdout,
    );
  });

  test('sign --backfill puts back a signature gone from the registry, and says so in its results', async () => {
    const repository = freshRepository('backfill-reattach');
    const image = makeOciImage({ tag: 'a' });
    const repo = { host: stack.env.REGISTRY!, repository };
    const registry = new RegistryClient({ allowedHosts: [stack.env.REGISTRY!] });
    const sigTag = `sha256-${image.digest.slice(7)}.sig`;
    await withSignOnPushHeldBack(stack, async () => {
      await skopeoCopy(image.source, `docker://${stack.env.REGISTRY}/${repository}:a`);
      const first = await sigsentry('sign', '--backfill', `${stack.env.REGISTRY}/${repository}`, '--json');
      assert.equal(first.code, 0, first.stderr);
      // A cleanup policy deletes the .sig manifest.
      const { digest } = await registry.resolve({ ...repo, tag: sigTag });
      assert.ok(await registry.deleteManifest(repo, digest));
      const again = await sigsentry('sign', '--backfill', `${stack.env.REGISTRY}/${repository}`, '--json');
      assert.equal(again.code, 0, again.stderr);
      const summary = JSON.parse(again.stdout) as {
        results: Array<{ image: string; outcome: string; detail?: string; reattached?: string[] }>;
      };
      const result = summary.results.find((r) => r.image.endsWith(`@${image.digest}`));
      assert.deepEqual(
        [result?.outcome, result?.detail, result?.reattached],
        ['already-signed', 're-attached in cosign', ['cosign']],
        again.stdout,
      );
    });
    assert.ok((await registry.getManifest(repo, sigTag)).bytes.length > 0, 'the .sig is back');
  });

  test('sign --retry-failed gives an image whose signing ran out of attempts a fresh set', async () => {
    const repository = freshRepository('retry-failed');
    const pushed = makeOciImage({ tag: 'v1' });
    const image = `${stack.env.REGISTRY}/${repository}@${pushed.digest}`;
    const firestore = new Firestore({ projectId: stack.env.GCP_PROJECT, ignoreUndefinedProperties: true });
    try {
      await withSignOnPushHeldBack(stack, async () => {
        await skopeoCopy(pushed.source, `docker://${stack.env.REGISTRY}/${repository}:v1`);
        // Ten attempts that died (the default maxAttempts), then the claim that finds none left.
        const store = new FirestoreSigningStore(firestore);
        const id = { image, keyVersion: stack.env.KMS_KEY! };
        for (let i = 0; i <= 10; i++) {
          await store.claim(id, `dead attempt ${i}`, { leaseMs: 1, maxAttempts: 10 });
          await new Promise((r) => setTimeout(r, 5));
        }
        assert.equal((await store.get(id))?.state, 'failed');
        const refused = await sigsentry('sign', image);
        assert.equal(refused.code, 1);
        assert.match(refused.stdout, /failed/);
        const retried = await sigsentry('sign', image, '--retry-failed');
        assert.equal(retried.code, 0, retried.stderr);
        assert.match(retried.stdout, /signed/);
        const record = await store.get(id);
        assert.equal(record?.state, 'attached');
        assert.equal(record?.attempts, 1, 'a fresh count');
      });
    } finally {
      await firestore.terminate();
    }
  });

  test('sign refuses an image that is not in the registry (exit 1, reason given)', async () => {
    const run = await sigsentry('sign', `${stack.env.REGISTRY}/team/nothing-here:v1`);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /failed .*not in the registry/);
  });

  test('sign of an image outside the watched repositories signs nothing and exits 1, saying why', async () => {
    const env = { ...process.env, SIGSENTRY_WATCH: `${stack.env.REGISTRY}/watched-only/**` };
    const repository = freshRepository('cli-unwatched');
    await skopeoCopy(makeOciImage({ tag: 'v1' }).source, `docker://${stack.env.REGISTRY}/${repository}:v1`);
    const single = await sigsentryWith(env, 'sign', `${stack.env.REGISTRY}/${repository}:v1`);
    assert.equal(single.code, 1, single.stdout + single.stderr);
    assert.match(single.stdout, /skipped .*is not watched/);
    const backfill = await sigsentryWith(env, 'sign', '--backfill', `${stack.env.REGISTRY}/${repository}`);
    assert.equal(backfill.code, 1);
    assert.match(backfill.stderr, /is not a watched repository/);
  });

  test('monitor --once --from past the cursor is refused as a usage error (exit 2), naming what it would skip', async () => {
    assert.equal((await sigsentry('monitor', '--once')).code, 0, 'the cursor at the head');
    await appendFillerEntry(stack.env.REKOR_URL!, `cli: an entry past the cursor ${Date.now()}`);
    const refused = await sigsentry('monitor', '--once', '--from', '999999999');
    assert.equal(refused.code, 2, refused.stdout + refused.stderr);
    assert.match(refused.stdout, /would skip entries \d+–\d+, which have not been scanned/);
    assert.equal((await sigsentry('monitor', '--once')).code, 0, 'the next run scans them');
  });

  test('monitor --once while another run holds the log says so and exits 1, not 0', async () => {
    assert.equal((await sigsentry('monitor', '--once')).code, 0, 'the log has a state');
    const db = new Firestore({ projectId: stack.env.GCP_PROJECT, ignoreUndefinedProperties: true });
    try {
      const store = new FirestoreMonitorStore(db);
      const log = defaultLogName(stack.env.REKOR_URL!);
      const state = (await store.load(log))!;
      const held = { ...state, runner: { owner: 'the scheduled run', until: Date.now() + 60_000 } };
      assert.ok(await store.save(held, state.version));
      const busy = await sigsentry('monitor', '--once');
      assert.equal(busy.code, 1, busy.stdout + busy.stderr);
      assert.match(busy.stderr, /being scanned by another run/);
      const now = (await store.load(log))!;
      assert.ok(await store.save({ ...now, runner: null }, now.version));
    } finally {
      await db.terminate();
    }
  });

  test('monitor --abandon-tree gives a pending tree up with its reason kept; without a reason, or for no such tree, exit 2', async () => {
    assert.equal((await sigsentry('monitor', '--once')).code, 0, 'the log has a state');
    const db = new Firestore({ projectId: stack.env.GCP_PROJECT, ignoreUndefinedProperties: true });
    try {
      const store = new FirestoreMonitorStore(db);
      const log = defaultLogName(stack.env.REKOR_URL!);
      const origin = `abandon-test - ${Date.now()}`;
      const state = (await store.load(log))!;
      const pending = { origin, checkpoint: '', cursor: 3, pending: { size: 9 } };
      assert.ok(
        await store.save({ ...state, previousShards: [...state.previousShards, pending] }, state.version),
      );

      const noReason = await sigsentry('monitor', '--abandon-tree', origin);
      assert.equal(noReason.code, 2, noReason.stdout + noReason.stderr);
      assert.match(noReason.stderr, /needs a reason/);
      const done = await sigsentry(
        'monitor',
        '--abandon-tree',
        origin,
        '--reason',
        'shard retired',
        '--json',
      );
      assert.equal(done.code, 0, done.stdout + done.stderr);
      assert.deepEqual(
        (({ log: l, origin: o, cursor, size, reason }) => ({ l, o, cursor, size, reason }))(
          JSON.parse(done.stdout),
        ),
        { l: log, o: origin, cursor: 3, size: 9, reason: 'shard retired' },
      );
      const tree = (await store.load(log))!.previousShards.find((s) => s.origin === origin);
      assert.equal(tree?.pending, undefined);
      assert.equal(tree?.abandoned?.reason, 'shard retired');
      const again = await sigsentry('monitor', '--abandon-tree', origin, '--reason', 'again');
      assert.equal(again.code, 2);
      assert.match(again.stderr, /has no pending tree/);
      const otherLog = await sigsentry('monitor', '--abandon-tree', origin, '--reason', 'x', '--log', 'nope');
      assert.equal(otherLog.code, 2);
      assert.match(otherLog.stderr, /no configured log is named nope/);
    } finally {
      await db.terminate();
    }
  });

  test('monitor --once scans the log and reports; alerts lists what it raised', async () => {
    const run = await sigsentry('monitor', '--once', '--json');
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { ok: boolean; logs: Array<{ outcome: string }> };
    assert.equal(result.ok, true);
    assert.equal(result.logs[0]?.outcome, 'scanned');

    const alerts = await sigsentry('alerts', '--json');
    assert.equal(alerts.code, 0);
    assert.ok(Array.isArray(JSON.parse(alerts.stdout)));

    const pass = await sigsentry('reverify', '--once', '--json');
    assert.ok(pass.code === 0 || pass.code === 1, pass.stderr);
    const summary = JSON.parse(pass.stdout) as {
      tags: number;
      byStatus: Record<string, number>;
      unverifiedFollowUp: string;
    };
    assert.ok(summary.tags > 0, 'the pass saw the tags pushed by the tests above');
    // A manual pass leaves verification-stale to the scheduled function (another configuration's
    // pass must not resolve its alert).
    assert.equal(summary.unverifiedFollowUp, 'off');
    assert.ok(summary.byStatus.valid! > 0, 'signed images verify');
    assert.equal(
      pass.code === 0,
      summary.byStatus.valid === summary.tags,
      'exit 0 exactly when every tag is valid',
    );

    const status = await sigsentry('status', '--json');
    assert.ok(status.code === 0 || status.code === 1, status.stderr);
    const view = JSON.parse(status.stdout) as { project: string; monitors: Array<{ cursor: number }> };
    assert.equal(view.project, stack.env.GCP_PROJECT);
    assert.ok(view.monitors.length >= 1, 'the monitor run above is shown');
    const human = await sigsentry('status');
    assert.match(human.stdout, /transparency-log monitor/);
  });

  test('without a log (REKOR_URL=none), monitor --once records its run, and status says no log is watched with that time, not "no run yet"', async () => {
    const db = new Firestore({ projectId: stack.env.GCP_PROJECT, ignoreUndefinedProperties: true });
    try {
      const started = Date.now();
      const asJson = await sigsentryWith(
        { ...process.env, REKOR_URL: 'none' },
        'monitor',
        '--once',
        '--json',
      );
      assert.equal(asJson.code, 0, asJson.stdout + asJson.stderr);
      assert.deepEqual(JSON.parse(asJson.stdout), { ok: true, logs: [], note: NO_LOG_NOTE });
      const run = await sigsentryWith({ ...process.env, REKOR_URL: 'none' }, 'monitor', '--once');
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.equal(run.stdout, `${NO_LOG_NOTE}\n`);
      const recorded = (await db.collection(MONITOR_RUNS_COLLECTION).doc(NO_LOG_RUN_DOCUMENT).get()).data();
      assert.ok(Date.parse(String(recorded?.['lastRunAt'])) >= started, JSON.stringify(recorded));
      assert.equal(recorded?.['note'], NO_LOG_NOTE);

      const status = await sigsentry('status');
      assert.ok(status.code === 0 || status.code === 1, status.stderr);
      const lines = status.stdout.split('\n');
      const heading = lines.indexOf('transparency-log monitor');
      assert.equal(
        lines[heading + 1],
        `  no transparency log is configured: none watched (the monitor last ran ${recorded?.['lastRunAt']})`,
        status.stdout,
      );
      // The log states of the runs above (with the stack's log) are shown as from earlier runs.
      assert.equal(lines[heading + 2], '  log states from earlier runs, when a log was configured:');
      assert.doesNotMatch(status.stdout, /no run yet/);

      const json = JSON.parse((await sigsentry('status', '--json')).stdout) as DashboardView;
      assert.equal(json.noLogRun?.latest, true);
      assert.equal(json.noLogRun?.lastRunAt, recorded?.['lastRunAt']);

      // A --from has no log to backfill: a usage error.
      const refused = await sigsentryWith(
        { ...process.env, REKOR_URL: 'none' },
        'monitor',
        '--once',
        '--from',
        '0',
      );
      assert.equal(refused.code, 2, refused.stdout + refused.stderr);
      assert.match(refused.stderr, /no log to backfill/);

      // The log configured again: its first run drops the record, and status shows the log.
      const withLog = await sigsentry('monitor', '--once');
      assert.equal(withLog.code, 0, withLog.stdout + withLog.stderr);
      assert.equal(
        (await db.collection(MONITOR_RUNS_COLLECTION).doc(NO_LOG_RUN_DOCUMENT).get()).exists,
        false,
      );
      const after = await sigsentry('status');
      assert.doesNotMatch(after.stdout, /no transparency log is configured/);
    } finally {
      await db.collection(MONITOR_RUNS_COLLECTION).doc(NO_LOG_RUN_DOCUMENT).delete();
      await db.terminate();
    }
  });

  test('alerts resolve: an operator resolves an open alert with a reason; it is told, and kept', async () => {
    const db = new Firestore({ projectId: stack.env.GCP_PROJECT, ignoreUndefinedProperties: true });
    try {
      const store = new FirestoreAlertStore(db);
      const key = `log-tree-changed:cli-${Date.now()}:127.0.0.1 - 7`;
      await store.record({
        kind: 'log-tree-changed',
        severity: 'MEDIUM',
        subject: 'http://127.0.0.1/rekor',
        key,
        summary: 'the transparency log rotated its shard',
        evidence: {},
      });
      const listed = await sigsentry('alerts', '--open');
      assert.ok(listed.stdout.includes(`key ${key}\n`), "the listing gives each alert's key");

      const resolved = await sigsentry(
        'alerts',
        'resolve',
        key,
        '--reason',
        'rotation announced by the operator',
      );
      assert.equal(resolved.code, 0, resolved.stderr);
      const alert = await store.get(key);
      assert.equal(alert?.state, 'resolved');
      assert.equal(alert?.resolvedReason, 'resolved by an operator: rotation announced by the operator');
      // The operator's shell reaches neither Cloud Logging nor (without its URL) the webhook.
      assert.deepEqual(alert?.undelivered?.channels, ['log', 'webhook']);
      assert.equal(alert?.undelivered?.status, 'resolved');
      assert.match(resolved.stderr, /Cloud Logging and the webhook will be told by the next monitorLog run/);
      // As the next monitorLog run does: the owed notices are found in Firestore and told.
      const cloudLogging = createMemoryLogger();
      const deployed = alertSinkFromEnv(
        { ...stack.env, ALERT_WEBHOOK_URL: '' },
        { firestore: db, logger: cloudLogging },
      );
      const owed = await deployed.redeliverOwed({ minAgeMs: 0, limit: 500 });
      assert.ok(owed.told >= 1);
      assert.ok(
        owed.dropped.some((d) => d.key === key && d.channel === 'webhook'),
        'this stack has no webhook',
      );
      assert.ok(
        cloudLogging.entries.some(
          (l) => l.message === `alert resolved: log-tree-changed: http://127.0.0.1/rekor`,
        ),
        'the resolution reaches Cloud Logging',
      );
      assert.equal((await store.get(key))?.undelivered, undefined, 'every channel was told');

      const again = await sigsentry('alerts', 'resolve', key, '--reason', 'twice');
      assert.equal(again.code, 0);
      assert.match(again.stdout, /was already resolved/);
      assert.equal((await store.get(key))?.resolvedReason, alert?.resolvedReason, 'the first reason stands');

      const unknown = await sigsentry('alerts', 'resolve', `${key}-none`, '--reason', 'typo');
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /no alert has the key/);
    } finally {
      await db.terminate();
    }
  });

  test('alerts resolve before Cloud Logging heard the raise: the next monitorLog run writes the ALERT line, then the resolution', async () => {
    const db = new Firestore({ projectId: stack.env.GCP_PROJECT, ignoreUndefinedProperties: true });
    try {
      const store = new FirestoreAlertStore(db);
      const key = `signature-invalid:cli-${Date.now()}/app:v1`;
      // Raised where Cloud Logging could not be told (a CLI run, or the line failed): owed to it.
      await store.record(
        {
          kind: 'signature-invalid',
          severity: 'CRITICAL',
          subject: 'registry.test/cli/app:v1',
          key,
          summary: 'registry.test/cli/app:v1 carries a signature that does not verify',
          evidence: { digest: `sha256:${'ab'.repeat(32)}` },
        },
        ['log'],
      );
      const resolved = await sigsentry('alerts', 'resolve', key, '--reason', 'investigated: a test push');
      assert.equal(resolved.code, 0, resolved.stderr);
      const stored = await store.get(key);
      assert.equal(stored?.state, 'resolved');
      assert.deepEqual(stored?.undelivered?.overtook, { status: 'new', channels: ['log'] });
      const cloudLogging = createMemoryLogger();
      const deployed = alertSinkFromEnv(
        { ...stack.env, ALERT_WEBHOOK_URL: '' },
        { firestore: db, logger: cloudLogging },
      );
      await deployed.redeliverOwed({ minAgeMs: 0, limit: 500 });
      const lines = cloudLogging.entries.filter(
        (l) => (l.alert as { key?: string } | undefined)?.key === key,
      );
      assert.deepEqual(
        lines.map((l) => [l.severity, l.alertStatus]),
        [
          ['ALERT', 'new'],
          ['NOTICE', 'resolved'],
        ],
        'the page it was owed, then the resolution',
      );
      assert.equal((await store.get(key))?.undelivered, undefined, 'every channel was told');
    } finally {
      await db.terminate();
    }
  });
});
