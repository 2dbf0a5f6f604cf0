/**
 * A start index (MONITOR_START_INDEX, a log's startIndex) or a backfill's `from` past the end of the
 * tree, on the Rekor emulator. On a sharded Rekor v1 (the public one) cosign, rekor-cli and bundles
 * print the global log index, which is what an operator pastes; the monitor counts within the tree.
 * It used to clamp such an index to the tree's end, passing over every entry between with nothing
 * said. Now the first run is refused (nothing saved), naming the index and the tree's size, and on a
 * sharded log the tree index the global one corresponds to; a `from` past the tree is refused as the
 * caller's error. A first run that takes the log's checkpoint on trust says so (NOTICE).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { InvalidInputError, SigsentryError } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { type MonitorDeps, runMonitor } from '../../../functions/monitor-log/core.ts';
import { createMonitorLogEntry } from '../../../functions/monitor-log/entry.ts';
import { type ResolvedIdentity, resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import { RekorV1Source } from '../../../functions/monitor-log/rekor-v1-source.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import type { LogEntry } from '../../../functions/tlog/client/types.ts';
import { hashedRekordProposal } from '../../helpers/hashedrekord.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';

const ours = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const theirs = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pemOf = (k: KeyObject) => k.export({ format: 'pem', type: 'spki' }).toString();

/** The frozen shard before the active tree on the sharded log: its entries are global 0–999999. */
const FROZEN = 1_000_000;

/** What monitorLog's HTTP handler answers when the run is `run`. */
async function httpStatus(run: () => ReturnType<typeof runMonitor>): Promise<number> {
  let status = 0;
  const res = {
    status(code: number) {
      status = code;
      return res;
    },
    json() {},
  };
  await createMonitorLogEntry({ logger: createMemoryLogger(), run })({ query: {} }, res);
  return status;
}

for (const sharded of [true, false]) {
  describe(`a start index past the tree (${sharded ? 'a sharded Rekor v1: global indexes from 1,000,000' : 'an unsharded log'})`, () => {
    let log: TestLog;
    let client: RekorV1Client;
    let store: MemoryMonitorStore;
    let alerts: MemoryAlertSink;
    let identities: ResolvedIdentity[];
    let logger: ReturnType<typeof createMemoryLogger>;
    let counter = 0;
    const append = (key: typeof ours): Promise<LogEntry> =>
      client.append(hashedRekordProposal(key, Buffer.from(`start index ${counter++}`)).body);
    const offset = sharded ? FROZEN : 0;

    const deps = (startIndex?: number, from?: number): MonitorDeps => ({
      logs: [
        {
          name: 'rekor',
          log: new RekorV1Source({ client, url: log.rekor.url }),
          ...(startIndex !== undefined ? { startIndex } : {}),
        },
      ],
      store,
      alerts,
      records: new StaticSigningRecordLookup(),
      identities,
      logger,
      limits: { batchSize: 10 },
      ...(from !== undefined ? { from } : {}),
    });

    /** 40 entries, the one at tree index 30 by the owned key. */
    const fortyEntries = async (): Promise<LogEntry> => {
      let owned: LogEntry | undefined;
      for (let i = 0; i < 40; i++) {
        const entry = await append(i === 30 ? ours : theirs);
        if (i === 30) owned = entry;
      }
      assert.equal(owned!.logIndex, offset + 30);
      return owned!;
    };

    beforeEach(async () => {
      log = await startTestLog('start-index', sharded ? { inactiveShardSize: FROZEN } : {});
      client = new RekorV1Client({ baseUrl: log.rekor.url, logKey: log.rekor.publicKeyPem, retries: 0 });
      identities = await resolveIdentities([{ type: 'publicKey', pem: pemOf(ours.publicKey) }], () =>
        Promise.reject(new Error('no KMS here')),
      );
      store = new MemoryMonitorStore();
      alerts = new MemoryAlertSink();
      logger = createMemoryLogger();
    });
    afterEach(() => log.stop());

    it('refuses the first run, naming the index and the tree size; nothing is saved or passed over', async () => {
      const owned = await fortyEntries();
      const given = offset + 25; // a global index on the sharded log; past the tree on either
      const refused = await runMonitor(deps(sharded ? given : 41));
      const [result] = refused.logs;
      assert.equal(refused.ok, false);
      assert.equal(result?.outcome, 'failed');
      const error = result?.error as SigsentryError;
      assert.ok(error instanceof SigsentryError);
      assert.ok(!(error instanceof InvalidInputError), "a configuration error, not the caller's");
      assert.equal(error.code, 'START_INDEX_PAST_TREE');
      const index = sharded ? given : 41;
      assert.match(error.message, new RegExp(`start index ${index} \\(MONITOR_START_INDEX`));
      assert.match(error.message, /past the end of the log's tree "[^"]+", which has 40 entries/);
      assert.match(error.message, /count within the tree, as the cursor does: an alert's treeIndex/);
      if (sharded) {
        assert.match(
          error.message,
          /1000025 looks like a global log index: this tree holds global log indexes 1000000–1000039, so it is tree index 25; give 25/,
        );
        assert.equal(error.details['treeIndex'], 25);
      } else {
        assert.doesNotMatch(error.message, /looks like a global/);
      }
      assert.equal(store.states.get('rekor'), undefined, 'no state: the next run is the first again');
      assert.ok(
        logger.entries.some((l) => l.severity === 'ERROR' && /monitor run on rekor: failed/.test(l.message)),
      );
      assert.equal(
        await httpStatus(() => runMonitor(deps(index))),
        500,
        'a deployment that cannot monitor its log',
      );

      // Given as the tree index, the first run starts there and reports the owned entry.
      const fixed = await runMonitor(deps(25));
      assert.equal(fixed.ok, true, JSON.stringify(fixed));
      assert.equal(fixed.logs[0]?.scanned, 15);
      assert.deepEqual(
        alerts.ofKind('rogue-signature').map((a) => a.evidence.logIndex),
        [owned.logIndex],
      );
    });

    it('a start index at the tree size is taken (only new entries), as is none', async () => {
      await fortyEntries();
      const result = await runMonitor(deps(40));
      assert.equal(result.ok, true, JSON.stringify(result));
      assert.equal(store.states.get('rekor')?.cursor, 40);
    });

    it('a first run says it trusts the log checkpoint, and where it starts (NOTICE)', async () => {
      await fortyEntries();
      assert.equal((await runMonitor(deps())).ok, true);
      const notices = logger.entries.filter(
        (l) => l.severity === 'NOTICE' && /^first run on rekor/.test(l.message),
      );
      assert.equal(notices.length, 1, JSON.stringify(logger.entries.map((l) => l.message)));
      assert.match(notices[0]!.message, /checkpoint \(tree "[^"]+", 40 entries\) is trusted as served/);
      assert.match(notices[0]!.message, /scanning starts at index 40 \(the tree size/);
      assert.equal(notices[0]!['treeSize'], 40);
      assert.equal(typeof notices[0]!['rootHash'], 'string');
      await append(theirs);
      assert.equal((await runMonitor(deps())).ok, true);
      assert.equal(
        logger.entries.filter((l) => /^first run on/.test(l.message)).length,
        1,
        'said by the first run only',
      );
    });

    it("a backfill from past the tree is refused as the caller's error, even with the cursor at the head", async () => {
      const owned = await fortyEntries();
      assert.equal((await runMonitor(deps())).ok, true); // the cursor at 40: caught up
      const from = offset + 25 + (sharded ? 0 : 100);
      const refused = await runMonitor(deps(undefined, from));
      const [result] = refused.logs;
      assert.equal(result?.outcome, 'failed', JSON.stringify(refused));
      assert.ok(result?.error instanceof InvalidInputError);
      const message = (result.error as Error).message;
      assert.match(
        message,
        new RegExp(`a backfill from log index ${from} is past the end of the log's tree`),
      );
      assert.match(message, /which has 40 entries; the cursor is at 40; rescan from 40 or lower/);
      if (sharded) assert.match(message, /so it is tree index 25; give 25/);
      assert.equal(await httpStatus(() => runMonitor(deps(undefined, from))), 400);
      assert.equal(store.states.get('rekor')?.cursor, 40);
      assert.equal(alerts.ofKind('rogue-signature').length, 0);

      const rescan = await runMonitor(deps(undefined, 25));
      assert.equal(rescan.ok, true, JSON.stringify(rescan));
      assert.equal(rescan.logs[0]?.scanned, 15);
      assert.deepEqual(
        alerts.ofKind('rogue-signature').map((a) => a.evidence.logIndex),
        [owned.logIndex],
      );
    });
  });
}

describe('a start index on an empty tree', () => {
  let log: TestLog;
  beforeEach(async () => {
    log = await startTestLog('start-index-empty');
  });
  afterEach(() => log.stop());

  it('past its end (0 entries) is refused without reading anything to explain it', async () => {
    const client = new RekorV1Client({ baseUrl: log.rekor.url, logKey: log.rekor.publicKeyPem, retries: 0 });
    const store = new MemoryMonitorStore();
    const result = await runMonitor({
      logs: [{ name: 'rekor', log: new RekorV1Source({ client, url: log.rekor.url }), startIndex: 5 }],
      store,
      alerts: new MemoryAlertSink(),
      records: new StaticSigningRecordLookup(),
      identities: await resolveIdentities([{ type: 'publicKey', pem: pemOf(ours.publicKey) }], () =>
        Promise.reject(new Error('no KMS here')),
      ),
      logger: createMemoryLogger(),
    });
    assert.equal(result.logs[0]?.outcome, 'failed');
    assert.match(
      String((result.logs[0]?.error as Error | undefined)?.message),
      /start index 5 .* which has 0 entries/,
    );
    assert.equal(store.states.get('rekor'), undefined);
  });
});
