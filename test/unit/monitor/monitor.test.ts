import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { type RekorServer, startRekorServer } from '../../../emulators/rekor/server.ts';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { type MonitorDeps, runMonitor } from '../../../functions/monitor-log/core.ts';
import { type ResolvedIdentity, resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import type { MonitoredLog } from '../../../functions/monitor-log/log-source.ts';
import { RekorV1Source } from '../../../functions/monitor-log/rekor-v1-source.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import { hashedRekordProposal } from '../../helpers/hashedrekord.ts';

const ours = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const theirs = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pemOf = (k: KeyObject) => k.export({ format: 'pem', type: 'spki' }).toString();
const KEY_VERSION = 'projects/p/locations/global/keyRings/r/cryptoKeys/release/cryptoKeyVersions/1';

let counter = 0;
function proposal(key: { privateKey: KeyObject; publicKey: KeyObject }) {
  return hashedRekordProposal(key, Buffer.from(`artifact ${counter++} ${Math.random()}`));
}

describe('runMonitor against the Rekor emulator', () => {
  let dir: string;
  let server: RekorServer;
  let client: RekorV1Client;
  let identities: ResolvedIdentity[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'monitor-'));
    server = await startRekorServer({ dataDir: dir });
    client = new RekorV1Client({
      baseUrl: server.url,
      logKey: server.publicKeyPem,
      retries: 1,
      concurrency: 4,
    });
    // The owned key is a KMS key version: a signing record names its key version, and explains an
    // entry only if that key version's key is the entry's (signing-lookup.ts recordMismatch).
    identities = await resolveIdentities(
      [{ type: 'kms', keyVersion: KEY_VERSION, name: 'release key' }],
      async () => pemOf(ours.publicKey),
    );
  });
  afterEach(() => server.faults.clear());
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function setup(overrides: Partial<MonitorDeps> = {}, name = `log-${counter++}`) {
    const store = new MemoryMonitorStore();
    const alerts = new MemoryAlertSink();
    const records = new StaticSigningRecordLookup();
    const source = new RekorV1Source({ client, url: server.url });
    const deps: MonitorDeps = {
      logs: [{ name, log: source }],
      store,
      alerts,
      records,
      identities,
      logger: createMemoryLogger(),
      limits: { batchSize: 20 },
      ...overrides,
    };
    return { deps, store, alerts, records, name, state: () => store.states.get(name) };
  }
  const append = async (key: typeof ours) => {
    const p = proposal(key);
    const entry = await client.append(p.body);
    return { ...p, entry };
  };

  it('the first run on an empty log and a run on a log that did not grow are normal runs', async () => {
    const { deps, state } = setup();
    const first = await runMonitor(deps);
    assert.equal(first.ok, true, JSON.stringify(first));
    assert.equal(first.logs[0]?.treeSize, 0);
    assert.equal(state()?.cursor, 0);
    const again = await runMonitor(deps);
    assert.equal(again.ok, true);
    assert.equal(again.logs[0]?.outcome, 'scanned');
  });

  it('reports a signature by an owned key with no record, and nothing else', async () => {
    const { deps, alerts, records, state } = setup();
    await runMonitor(deps); // starts at the current size
    const before = state()!.cursor;
    const rogue = await append(ours);
    const made = await append(ours);
    records.add(made.signature, { image: 'reg/app@sha256:00', keyVersion: KEY_VERSION, format: 'cosign' });
    for (let i = 0; i < 25; i++) await append(theirs);
    const result = await runMonitor(deps);
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal(result.logs[0]?.scanned, 27);
    assert.equal(state()!.cursor, before + 27);
    assert.equal(alerts.raised.length, 1);
    const alert = alerts.ofKind('rogue-signature')[0]!;
    assert.equal(alert.evidence.logIndex, rogue.entry.logIndex);
    assert.equal(alert.evidence.uuid, rogue.entry.uuid);
    assert.equal(
      alert.evidence.entryBodyDigest,
      `sha256:${createHash('sha256').update(Buffer.from(rogue.entry.body, 'base64')).digest('hex')}`,
    );
    assert.equal(alert.evidence.identity, 'release key');
    assert.equal(alert.severity, 'CRITICAL');
  });

  it('two runs at once on one log (an operator’s run during the scheduled one): one scans, the other stops as busy; each entry alerted once', async () => {
    const { deps, alerts, state } = setup();
    await runMonitor(deps);
    const before = state()!.cursor;
    const rogue = await append(ours);
    for (let i = 0; i < 30; i++) await append(theirs);
    const [a, b] = await Promise.all([runMonitor(deps), runMonitor(deps)]);
    assert.deepEqual([a.logs[0]?.outcome, b.logs[0]?.outcome].sort(), ['busy', 'scanned']);
    assert.equal(a.ok && b.ok, true);
    assert.equal(state()!.cursor, before + 31);
    assert.deepEqual(
      alerts.raised.map((x) => [x.kind, x.evidence.logIndex]),
      [['rogue-signature', rogue.entry.logIndex]],
    );
    assert.equal(state()!.runner, null, 'the lease is released');
  });

  it('a run whose instance died holds the log until its lease runs out; the next run then goes on', async () => {
    let clock = 5_000_000;
    const { deps, store, name, state } = setup({ now: () => clock });
    await runMonitor(deps);
    const before = state()!.cursor;
    for (let i = 0; i < 3; i++) await append(theirs);
    const current = state()!;
    await store.save(
      { ...current, runner: { owner: 'dead instance', until: clock + 60_000 } },
      current.version,
    );

    const held = await runMonitor(deps);
    assert.equal(held.logs[0]?.outcome, 'busy');
    assert.equal(state()!.cursor, before, 'nothing scanned while the lease holds');
    assert.equal(store.states.get(name)!.runner?.owner, 'dead instance');

    clock += 60_001;
    const next = await runMonitor(deps);
    assert.equal(next.logs[0]?.outcome, 'scanned', JSON.stringify(next));
    assert.equal(state()!.cursor, before + 3);
  });

  it('starts at the current size by default, and from startIndex or a backfill index when told', async () => {
    await append(ours);
    const size = (await client.getCheckpoint()).size;
    const fresh = setup();
    await runMonitor(fresh.deps);
    assert.equal(fresh.state()!.cursor, size);
    assert.equal(fresh.alerts.raised.length, 0);

    const backfill = setup();
    backfill.deps.logs[0]!.startIndex = size - 1;
    await runMonitor(backfill.deps);
    assert.equal(backfill.alerts.ofKind('rogue-signature').length, 1);
    // A backfill over entries already alerted on raises the same incidents again, deduplicated.
    await runMonitor({ ...backfill.deps, from: size - 1 });
    assert.equal(backfill.alerts.ofKind('rogue-signature')[0]!.count, 2);
  });

  it('refuses a backfill index past the cursor instead of skipping the entries between', async () => {
    const { deps, alerts, state } = setup();
    await runMonitor(deps);
    const cursor = state()!.cursor;
    await append(ours);
    await append(theirs);
    const ahead = await runMonitor({ ...deps, from: cursor + 2 });
    assert.equal(ahead.ok, false);
    assert.equal(ahead.logs[0]?.outcome, 'failed');
    assert.match(
      String((ahead.logs[0]!.error as Error).message),
      new RegExp(`skip entries ${cursor}–${cursor + 1}`),
    );
    assert.equal(state()!.cursor, cursor, 'the cursor did not move');
    // The next run scans the entries the refused backfill would have skipped.
    const next = await runMonitor(deps);
    assert.equal(next.logs[0]?.outcome, 'scanned');
    assert.equal(next.logs[0]?.scanned, 2);
    assert.equal(alerts.ofKind('rogue-signature').length, 1);
  });

  for (const [fault, kind] of [
    [{ splitView: true }, 'log-inconsistent'],
    [{ wrongCheckpointKey: true }, 'checkpoint-invalid'],
    [{ shrinkBy: 5 }, 'log-inconsistent'],
    [{ wrongConsistencyProof: true }, 'log-inconsistent'],
  ] as const) {
    it(`${JSON.stringify(fault)} raises ${kind} and moves neither checkpoint nor cursor`, async () => {
      const { deps, alerts, state } = setup();
      await runMonitor(deps);
      const before = state()!;
      for (let i = 0; i < 3; i++) await append(theirs);
      server.faults.set(fault);
      const result = await runMonitor(deps);
      assert.equal(result.ok, false);
      assert.equal(result.logs[0]?.outcome, kind);
      // What the log is trusted for stays as it was (the run lease came and went).
      const { version: _v, updatedAt: _u, runner, ...kept } = state()!;
      const { version: _bv, updatedAt: _bu, runner: _br, ...keptBefore } = before;
      assert.deepEqual(kept, keptBefore);
      assert.equal(runner, null, 'the run released its lease');
      const [alert] = alerts.ofKind(kind);
      assert.ok(alert, `expected a ${kind} alert`);
      assert.equal(alert.evidence.logUrl, server.url);
      if (kind === 'log-inconsistent') assert.equal(alert.evidence.checkpoints?.length, 2);
      // Recurring: one alert, counted.
      await runMonitor(deps);
      assert.equal(alerts.ofKind(kind)[0]!.count, 2);
      server.faults.clear();
      const healed = await runMonitor(deps);
      assert.equal(healed.ok, true, JSON.stringify(healed));
      assert.equal(state()!.cursor, before.cursor + 3);
    });
  }

  for (const fault of ['rewriteEntry', 'wrongInclusionProof'] as const) {
    it(`${fault} stops the scan at its batch with log-inconsistent; the checkpoint advances, the cursor does not pass it`, async () => {
      const { deps, alerts, state } = setup({ limits: { batchSize: 10 } });
      await runMonitor(deps);
      const start = state()!.cursor;
      for (let i = 0; i < 25; i++) await append(theirs);
      server.faults.set(
        fault === 'rewriteEntry' ? { rewriteEntry: start + 14 } : { wrongInclusionProof: true },
      );
      const result = await runMonitor(deps);
      assert.equal(result.logs[0]?.outcome, 'log-inconsistent');
      const expectedCursor = fault === 'rewriteEntry' ? start + 10 : start;
      assert.equal(state()!.cursor, expectedCursor);
      assert.equal(state()!.treeSize, start + 25, 'the proven checkpoint is kept');
      const alert = alerts.ofKind('log-inconsistent')[0]!;
      if (fault === 'rewriteEntry') assert.equal(alert.evidence.logIndex, start + 14);
    });
  }

  it('a reported entry whose signed entry timestamp does not sign its time stops the scan at its batch; other entries are proven by inclusion alone', async () => {
    const { deps, alerts, state } = setup({ limits: { batchSize: 10 } });
    await runMonitor(deps);
    const start = state()!.cursor;
    for (let i = 0; i < 12; i++) await append(theirs);
    await append(ours); // start + 12: matches the owned key, so it would be reported
    for (let i = 0; i < 7; i++) await append(theirs);

    // An unrelated entry with a forged time is not the monitor's to judge: its inclusion is proven.
    server.faults.set({ backdateEntry: start + 3 });
    const unrelated = await runMonitor({ ...deps, from: start });
    assert.equal(unrelated.logs[0]?.outcome, 'scanned', JSON.stringify(unrelated));
    assert.equal(alerts.ofKind('rogue-signature').length, 1);

    // The reported entry's time is evidence: a forged one is the log lying.
    const { deps: fresh, alerts: freshAlerts, state: freshState } = setup({ limits: { batchSize: 10 } });
    await runMonitor({ ...fresh, from: start });
    server.faults.set({ backdateEntry: start + 12 });
    await runMonitor(fresh); // nothing new: a normal run
    const forged = await runMonitor({ ...fresh, from: start });
    assert.equal(forged.logs[0]?.outcome, 'log-inconsistent', JSON.stringify(forged));
    assert.equal(freshState()!.cursor, start + 10, 'the cursor stops before the batch');
    const alert = freshAlerts.ofKind('log-inconsistent')[0]!;
    assert.equal(alert.evidence.logIndex, start + 12);
    assert.match(alert.summary, /signed entry timestamp/);
  });

  it('a run that dies mid-scan resumes where it stopped: every entry processed exactly once', async () => {
    const read: number[] = [];
    let calls = 0;
    const real = new RekorV1Source({ client, url: server.url });
    const crashing: MonitoredLog = {
      url: real.url,
      getCheckpoint: () => real.getCheckpoint(),
      verifyConsistency: (a, b) => real.verifyConsistency(a, b),
      async readEntries(start, end, head) {
        if (++calls === 3) throw new DependencyError('rekor', 'connection reset (injected crash)');
        const entries = await real.readEntries(start, end, head);
        read.push(...entries.map((e) => e.logIndex));
        return entries;
      },
    };
    const { deps, state, alerts } = setup({ limits: { batchSize: 10 } });
    deps.logs[0]!.log = crashing;
    await runMonitor(deps);
    const start = state()!.cursor;
    // Every entry is by the owned key with no signing record: processing one raises its alert.
    for (let i = 0; i < 45; i++) await append(ours);
    const first = await runMonitor(deps);
    assert.equal(first.logs[0]?.outcome, 'failed');
    assert.equal(state()!.cursor, start + 20);
    const second = await runMonitor(deps);
    assert.equal(second.ok, true, JSON.stringify(second));
    assert.equal(state()!.cursor, start + 45);
    const all = Array.from({ length: 45 }, (_, i) => start + i);
    const processed = alerts.raised.map((a) => a.evidence.logIndex as number);
    assert.deepEqual(processed, all, 'each entry raised its alert once, in order');
    // A batch read ahead of the failure may be read again; none is left unread.
    assert.deepEqual(
      [...new Set(read)].sort((a, b) => a - b),
      all,
    );
    assert.equal((first.logs[0]?.scanned ?? 0) + (second.logs[0]?.scanned ?? 0), 45);
  });

  it('a run limited by maxEntriesPerRun leaves the rest for the next run', async () => {
    const { deps, state } = setup({ limits: { batchSize: 10, maxEntriesPerRun: 15 } });
    await runMonitor(deps);
    const start = state()!.cursor;
    for (let i = 0; i < 20; i++) await append(theirs);
    const first = await runMonitor(deps);
    assert.equal(first.logs[0]?.outcome, 'partial');
    assert.equal(state()!.cursor, start + 15);
    await runMonitor(deps);
    assert.equal(state()!.cursor, start + 20);
  });

  it('two overlapping runs never move the cursor backwards: the loser stops', async () => {
    const a = setup();
    await runMonitor(a.deps);
    for (let i = 0; i < 5; i++) await append(theirs);
    const stale = structuredClone(a.state()!);
    await runMonitor(a.deps);
    const ahead = a.state()!;
    assert.equal(await a.store.save({ ...stale, cursor: 0 }, stale.version), false);
    assert.deepEqual(a.state(), ahead);
  });
});
