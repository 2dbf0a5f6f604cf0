/**
 * The dashboard's data layer against the stack's Firestore emulator, the state written by the real
 * stores (tag verdicts, signing records, alerts, monitor state), and the same view served by the
 * stack's `dashboard` function. Isolated by data: a fresh repository and log name.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Firestore } from '@google-cloud/firestore';
import { alertDocumentId } from '../../../functions/alerts/alert.ts';
import { FirestoreAlertStore } from '../../../functions/alerts/firestore-sink.ts';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { loadDashboard } from '../../../functions/dashboard/data.ts';
import type { DashboardView } from '../../../functions/dashboard/view.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { NO_LOG_NOTE, runMonitor } from '../../../functions/monitor-log/core.ts';
import {
  FirestoreMonitorStore,
  MONITOR_RUNS_COLLECTION,
  NO_LOG_RUN_DOCUMENT,
} from '../../../functions/monitor-log/state.ts';
import { FirestoreTagStore } from '../../../functions/reverify/store.ts';
import {
  FirestoreSigningStore,
  recordId,
  SIGNING_RECORDS,
} from '../../../functions/state/signing-records.ts';
import type { VerdictStatus } from '../../../functions/verify/verdict.ts';
import { freshRepository, type TestStack, testStack } from '../../helpers/stack.ts';
import { tagRecord } from '../../helpers/tag-record.ts';

const digest = () => `sha256:${crypto.randomBytes(32).toString('hex')}`;

describe('dashboard data on the Firestore emulator', () => {
  let stack: TestStack;
  let db: Firestore;
  let repo: string;
  let logName: string;
  const signed = digest();
  const KEY = 'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1';

  const verdict = (tag: string, status: VerdictStatus, d: string) =>
    tagRecord(`${repo}:${tag}`, status, d, status === 'valid' ? [] : [`the ${tag} signature is ${status}`]);

  before(async () => {
    stack = testStack();
    db = new Firestore({ projectId: stack.env.GCP_PROJECT, ignoreUndefinedProperties: true });
    repo = `${stack.env.REGISTRY}/${freshRepository('dashboard')}`;
    logName = `dashboard-test-${crypto.randomBytes(4).toString('hex')}`;

    const tags = new FirestoreTagStore(db);
    await tags.put(verdict('v1', 'valid', signed), undefined);
    await tags.put(verdict('v2', 'invalid', digest()), undefined);
    await tags.put(verdict('v3', 'unsigned', digest()), undefined);

    // A signing record taken through the real store: claimed, then attached with a logged bundle.
    const signings = new FirestoreSigningStore(db);
    const id = { image: `${repo}@${signed}`, keyVersion: KEY };
    const claim = await signings.claim(id, 'test-owner', {
      leaseMs: 60_000,
      maxAttempts: 3,
      tag: `${repo}:v1`,
    });
    assert.equal(claim.status, 'claimed');
    await signings.progress(id, 'test-owner', {
      state: 'attached',
      lease: null,
      formats: {
        bundle: {
          attached: true,
          bundle: {
            verificationMaterial: {
              tlogEntries: [
                { logIndex: '987654', integratedTime: '1746093600', kindVersion: { kind: 'dsse' } },
              ],
            },
          },
        },
      },
    });

    const alerts = new FirestoreAlertStore(db);
    await alerts.record({
      kind: 'signature-invalid',
      severity: 'HIGH',
      subject: `${repo}:v2`,
      summary: 'the v2 signature does not verify',
      evidence: { tag: `${repo}:v2`, logIndex: 55 },
    });
    await alerts.record({
      kind: 'unsigned-image',
      severity: 'MEDIUM',
      subject: `${repo}:old`,
      summary: 'resolved before the page was read',
      evidence: {},
    });
    await alerts.markResolved(`unsigned-image:${repo}:old`, 'signed since');

    const monitors = new FirestoreMonitorStore(db);
    assert.ok(
      await monitors.save(
        {
          schemaVersion: 1,
          log: logName,
          url: 'http://127.0.0.1:1/',
          origin: 'test-origin',
          checkpoint: 'test-origin\n40\nAAAA\n\n— test sig\n',
          treeSize: 40,
          cursor: 33,
          version: 0,
          updatedAt: new Date().toISOString(),
          previousShards: [],
        },
        undefined,
      ),
    );
  });
  after(() => db.terminate());

  function check(view: DashboardView): void {
    const row = view.coverage.find((r) => r.repository === repo);
    assert.ok(row, 'a coverage row for the repository');
    assert.deepEqual(
      {
        signed: row.signed,
        unsigned: row.unsigned,
        failing: row.failing,
        signing: row.signing,
        digests: row.signedDigests,
      },
      { signed: 1, unsigned: 1, failing: 1, signing: 0, digests: 1 },
    );
    assert.deepEqual(
      row.problems.map((p) => [p.ref, p.status, p.reasons]),
      [
        [`${repo}:v2`, 'failing', ['the v2 signature is invalid']],
        [`${repo}:v3`, 'unsigned', ['the v3 signature is unsigned']],
      ],
    );

    const signing = view.recentSignings.find((s) => s.image === `${repo}@${signed}`);
    assert.ok(signing, 'the signing is among the recent ones');
    assert.equal(signing.state, 'attached');
    assert.deepEqual(signing.tags, [`${repo}:v1`]);
    assert.deepEqual(signing.entries, [
      { format: 'bundle', logIndex: 987654, kind: 'dsse', integratedTime: '2025-05-01T10:00:00.000Z' },
    ]);

    const mine = view.openAlerts.filter((a) => a.subject.startsWith(repo));
    assert.deepEqual(
      mine.map((a) => [a.kind, a.state, a.evidence.logIndex]),
      [['signature-invalid', 'open', 55]],
      'the open alert with its evidence, not the resolved one',
    );

    const monitor = view.monitors.find((m) => m.log === logName);
    assert.ok(monitor);
    assert.deepEqual([monitor.cursor, monitor.treeSize, monitor.origin], [33, 40, 'test-origin']);
    assert.match(monitor.checkpoint, /^test-origin\n40\n/);
  }

  it('builds the view model from what the stores wrote', async () => {
    const view = await loadDashboard(db, {
      project: stack.env.GCP_PROJECT!,
      limits: { recentSignings: 500 },
    });
    assert.equal(view.project, stack.env.GCP_PROJECT);
    assert.deepEqual(view.truncated, []);
    check(view);
  });

  it('narrows coverage and recent signings to one repository', async () => {
    const view = await loadDashboard(db, { project: 'p', repository: repo, limits: { recentSignings: 1 } });
    assert.equal(view.repository, repo);
    assert.deepEqual(
      view.coverage.map((r) => r.repository),
      [repo],
    );
    assert.deepEqual(
      view.recentSignings.map((s) => s.image),
      [`${repo}@${signed}`],
    );
    // A repository whose name extends this one's is another repository.
    const other = await loadDashboard(db, { project: 'p', repository: `${repo}-other` });
    assert.deepEqual([other.coverage, other.recentSignings], [[], []]);
    check({ ...view, recentSignings: view.recentSignings });
  });

  it('reads an image attached in one format and given up on in another as signed, the format failing (also as written before the fix)', async () => {
    const other = `${stack.env.REGISTRY}/${freshRepository('dashboard-formats')}`;
    const [given, legacy] = [digest(), digest()];
    const write = (d: string, tag: string, fields: Record<string, unknown>) =>
      db
        .collection(SIGNING_RECORDS)
        .doc(recordId(`${other}@${d}`, KEY))
        .create({
          schemaVersion: 1,
          image: `${other}@${d}`,
          digest: d,
          keyVersion: KEY,
          attempts: 10,
          lease: null,
          formats: { cosign: { signature: 'c2ln', attached: true }, bundle: { signature: 'YnVu' } },
          tags: [`${other}:${tag}`],
          createdAt: Date.now(),
          updatedAt: Date.now(),
          ...fields,
        });
    await write(given, 'v1', { state: 'attached', failedFormats: ['bundle'], adding: [] });
    await write(legacy, 'v2', { state: 'failed' }); // as the code before the fix left it
    const view = await loadDashboard(db, { project: 'p', repository: other });
    const [row] = view.coverage;
    assert.deepEqual(
      [row?.signed, row?.failing, row?.unsigned, row?.signing, row?.signedDigests],
      [2, 0, 0, 0, 2],
    );
    assert.deepEqual(
      view.recentSignings.map((s) => [s.digest, s.state, s.failedFormats]).sort(),
      [
        [given, 'attached', ['bundle']],
        [legacy, 'attached', ['bundle']],
      ].sort(),
    );
  });

  it('reports partial counts when a collection holds more than one page reads', async () => {
    const view = await loadDashboard(db, { project: 'p', limits: { maxDocuments: 1 } });
    assert.ok(view.truncated.includes('tags'), JSON.stringify(view.truncated));
  });

  it('more open alerts than a page shows: said so, and an older CRITICAL one is not pushed off by newer ones', async () => {
    // Dated past every other test's alerts, so this test's are the newest of their severity.
    const run = crypto.randomBytes(4).toString('hex');
    const at = (iso: string) => new FirestoreAlertStore(db, () => new Date(iso));
    const keys: string[] = [];
    const raise = async (store: FirestoreAlertStore, severity: 'CRITICAL' | 'HIGH' | 'MEDIUM', n: number) => {
      const key = `log-tree-changed:dashboard-flood-${run}-${n}`;
      keys.push(key);
      await store.record({
        kind: 'log-tree-changed',
        severity,
        subject: `flood ${run} ${n}`,
        key,
        summary: `alert ${n}`,
        evidence: {},
      });
    };
    try {
      await raise(at('2999-01-01T00:00:00Z'), 'CRITICAL', 0);
      for (let n = 1; n <= 5; n++) await raise(at(`2999-06-0${n}T00:00:00Z`), 'MEDIUM', n);
      // Newer HIGH ones, more than a page, must not push it off either.
      for (let n = 6; n <= 9; n++) await raise(at(`2999-07-0${n}T00:00:00Z`), 'HIGH', n);
      const view = await loadDashboard(db, { project: 'p', limits: { openAlerts: 3 } });
      assert.ok(view.truncated.includes('alerts'), JSON.stringify(view.truncated));
      assert.equal(view.openAlerts.length, 3);
      assert.equal(view.openAlerts[0]?.key, keys[0], 'the CRITICAL alert first, though nine are newer');
      const rank = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW'];
      const ranks = view.openAlerts.map((a) => rank.indexOf(a.severity));
      assert.deepEqual(ranks, [...ranks].sort(), 'most severe first');
    } finally {
      for (const key of keys) await db.collection('alerts').doc(alertDocumentId(key)).delete();
    }
  });

  it('a run without a transparency log, recorded by the core in Firestore: the view and the served page say no log is watched, with its time, until a log state is newer', async () => {
    const record = db.collection(MONITOR_RUNS_COLLECTION).doc(NO_LOG_RUN_DOCUMENT);
    const runWithoutLog = (at: string) =>
      runMonitor({
        logs: [],
        store: new FirestoreMonitorStore(db),
        alerts: new MemoryAlertSink(),
        records: { findBySignature: async () => undefined },
        identities: [],
        logger: createMemoryLogger(),
        now: () => Date.parse(at),
      });
    try {
      // After every log state the emulator holds (this file's, and the other tests').
      assert.equal((await runWithoutLog('2999-01-01T00:00:00Z')).ok, true);
      const view = await loadDashboard(db, { project: 'p' });
      assert.deepEqual(view.noLogRun, {
        lastRunAt: '2999-01-01T00:00:00.000Z',
        note: NO_LOG_NOTE,
        latest: true,
      });
      assert.ok(
        view.monitors.some((m) => m.log === logName),
        'the log states are still there, shown as from earlier runs',
      );
      const page = await (await fetch(stack.env.DASHBOARD_URL!)).text();
      assert.match(page, /This deployment watches no transparency log: none is configured\./);
      assert.match(page, /last ran <time datetime="2999-01-01T00:00:00.000Z">/);
      assert.doesNotMatch(page, /has not run/);

      // A run long before this file's log state: a log was configured since, and shows as usual.
      await runWithoutLog('2000-01-01T00:00:00Z');
      const later = await loadDashboard(db, { project: 'p' });
      assert.equal(later.noLogRun?.latest, false);
      assert.doesNotMatch(
        await (await fetch(stack.env.DASHBOARD_URL!)).text(),
        /watches no transparency log/,
      );
    } finally {
      await record.delete();
    }
  });

  it("the stack's dashboard function serves the same view (JSON) and the page", async () => {
    const url = stack.env.DASHBOARD_URL;
    assert.ok(url, 'stack.env has DASHBOARD_URL');
    const res = await fetch(`${url}?format=json&repository=${encodeURIComponent(repo)}`);
    assert.equal(res.status, 200);
    check((await res.json()) as DashboardView);
    const page = await fetch(url);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.ok(html.includes(`${repo}:v2`), 'the failing tag is listed on the page');
    assert.match(html, /log index 987654/);
  });
});
