/**
 * Each log entry is its own incident. Alert keys named an entry by its log index alone, and a log
 * that moves to a new tree (Rekor v2 tiles, a v1 log whose history is replaced under a new origin)
 * numbers its entries from 0 again: a different rogue entry at the same index merged into the first
 * one's open incident as a repeat, told to no channel, its evidence overwriting the first's (found
 * by review). The key now carries a prefix of the entry body's digest too.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Alert } from '../../../functions/alerts/alert.ts';
import { FanOutAlertSink } from '../../../functions/alerts/fanout.ts';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import type { AlertNotifier } from '../../../functions/alerts/notifier.ts';
import type { RaisedAlert } from '../../../functions/alerts/record.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { runMonitor } from '../../../functions/monitor-log/core.ts';
import { resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import type { MonitoredLog, ScannedEntry } from '../../../functions/monitor-log/log-source.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { formatCheckpointBody } from '../../../functions/tlog/checkpoint/checkpoint.ts';
import { rekorV1NoteSigner } from '../../../functions/tlog/checkpoint/keys.ts';
import { signNote, type VerifiedCheckpoint } from '../../../functions/tlog/checkpoint/verify.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import { consistencyProof, hashLeaf, MemoryLevels, rootAt } from '../../../functions/tlog/merkle/index.ts';
import { hashedRekordProposal } from '../../helpers/hashedrekord.ts';

const logKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const noteSigner = rekorV1NoteSigner('log.example', logKey.privateKey);
const ours = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const theirs = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pemOf = (k: KeyObject) => k.export({ format: 'pem', type: 'spki' }).toString();
const KEY_VERSION = 'projects/p/locations/global/keyRings/r/cryptoKeys/release/cryptoKeyVersions/1';

interface Tree {
  origin: string;
  levels: MemoryLevels;
  note: string;
  bodies: Buffer[];
}
function tree(origin: string, bodies: Buffer[]): Tree {
  const levels = new MemoryLevels(bodies.map((b) => hashLeaf(b)));
  const body = formatCheckpointBody({
    origin,
    size: bodies.length,
    rootHash: Buffer.from(rootAt(levels, bodies.length)),
    extensions: [],
  });
  return { origin, levels, note: signNote(body, noteSigner), bodies };
}
const entryBody = (key: typeof ours, artifact: string) =>
  Buffer.from(JSON.stringify(hashedRekordProposal(key, Buffer.from(artifact)).body));

function fakeLog() {
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
    logKey: logKey.publicKey,
    fetch,
    retries: 0,
  });
  const log: MonitoredLog = {
    url: 'http://rekor.invalid',
    getCheckpoint: () => client.getCheckpoint(),
    verifyConsistency: (a: VerifiedCheckpoint, b: VerifiedCheckpoint) => client.verifyConsistency(a, b),
    readEntries: async (from: number, to: number, head: VerifiedCheckpoint): Promise<ScannedEntry[]> => {
      assert.equal(head.origin, current!.origin);
      return current!.bodies.slice(from, to).map((body, i) => ({ logIndex: from + i, body }));
    },
  };
  return {
    log,
    serve: (t: Tree) => {
      current = t;
    },
  };
}

class Channel implements AlertNotifier {
  readonly wantsRepeats = false;
  readonly told: Array<{ status: string; alert: Alert }> = [];
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
  async notify({ alert, status }: RaisedAlert) {
    this.told.push({ status, alert });
  }
  async resolved(alert: Alert) {
    this.told.push({ status: 'resolved', alert });
  }
}

describe('rogue-signature key across a tree change', () => {
  it('a second, different rogue entry at the same index of the new tree reaches the paging channels', async () => {
    const identities = await resolveIdentities(
      [{ type: 'kms', keyVersion: KEY_VERSION, name: 'release key' }],
      async () => pemOf(ours.publicKey),
    );
    const { log, serve } = fakeLog();
    const record = new MemoryAlertSink();
    const pubsub = new Channel('pubsub');
    const webhook = new Channel('webhook');
    const alerts = new FanOutAlertSink({ recorder: record, notifiers: [pubsub, webhook] });
    const deps = {
      logs: [{ name: 'L', log, startIndex: 0 }],
      store: new MemoryMonitorStore(),
      alerts,
      records: new StaticSigningRecordLookup(),
      identities,
      logger: createMemoryLogger(),
    };
    // Tree A: entry 1 is a rogue signature by the owned key over the attacker's artifact.
    serve(
      tree('log.example - A', [
        entryBody(theirs, 'x'),
        entryBody(ours, 'evil artifact'),
        entryBody(theirs, 'y'),
      ]),
    );
    const first = await runMonitor(deps);
    assert.equal(first.logs[0]!.rogue, 1);
    // The log moves to a new tree (log-tree-changed, followed from index 0); its entry 1 is another
    // rogue signature: a new signature (another ECDSA nonce) logged again, a separate signing event.
    serve(
      tree('log.example - B', [
        entryBody(theirs, 'z'),
        entryBody(ours, 'evil artifact'),
        entryBody(theirs, 'w'),
      ]),
    );
    const second = await runMonitor(deps);
    assert.equal(second.logs[0]!.rogue, 1, 'the monitor did match the second rogue entry');
    const rogueAlerts = [...record.alerts.values()].filter((a) => a.kind === 'rogue-signature');
    const newsAboutRogue = pubsub.told.filter((t) => t.alert.kind === 'rogue-signature');
    assert.equal(
      rogueAlerts.length,
      2,
      'two different log entries must be two incidents (got one merged incident)',
    );
    assert.equal(
      newsAboutRogue.length,
      2,
      'the second rogue signature must be told to Pub/Sub and the webhook',
    );
  });
});
