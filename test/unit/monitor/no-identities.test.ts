/**
 * A monitor with no owned identity matches nothing: it would move its cursor past every entry and
 * report success, so a deployment missing KMS_KEY and SIGSENTRY_IDENTITIES would skip the entries
 * made meanwhile for good. It refuses to run instead, with a configuration error, before it
 * touches the log's state. On the Rekor emulator, with entries made by a key the organisation owns.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { InvalidInputError } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { loadMonitorConfig } from '../../../functions/monitor-log/config.ts';
import { type MonitorDeps, runMonitor, runMonitorShard } from '../../../functions/monitor-log/core.ts';
import { MemoryShardStore } from '../../../functions/monitor-log/fan-out.ts';
import { resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import { RekorV1Source } from '../../../functions/monitor-log/rekor-v1-source.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import { hashedRekordProposal } from '../../helpers/hashedrekord.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';

const ours = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pemOf = (k: KeyObject) => k.export({ format: 'pem', type: 'spki' }).toString();
const noIdentities = /no owned identities to watch the log for: set KMS_KEY or SIGSENTRY_IDENTITIES/;

describe('monitorLog with nothing to watch for', () => {
  let log: TestLog;
  let client: RekorV1Client;
  before(async () => {
    log = await startTestLog('no-identities');
    client = new RekorV1Client({ baseUrl: log.rekor.url, logKey: log.rekor.publicKeyPem, retries: 0 });
    for (let i = 0; i < 3; i++) {
      await client.append(hashedRekordProposal(ours, Buffer.from(`owned ${i}`)).body);
    }
  });
  after(() => log.stop());

  const depsWith = (store: MemoryMonitorStore, alerts: MemoryAlertSink): MonitorDeps => ({
    logs: [{ name: 'rekor', log: new RekorV1Source({ client, url: log.rekor.url }), startIndex: 0 }],
    store,
    alerts,
    records: new StaticSigningRecordLookup(),
    identities: [],
    logger: createMemoryLogger(),
    fanOut: { store: new MemoryShardStore(), dispatcher: { dispatch: async () => {} } },
  });

  it('a configuration without KMS_KEY or SIGSENTRY_IDENTITIES is refused, naming both', () => {
    const env = {
      GCP_PROJECT: 'p',
      REKOR_URL: log.rekor.url,
      REKOR_PUBLIC_KEY: log.rekor.publicKeyPem,
      MONITOR_START_INDEX: '0',
    };
    assert.throws(
      () => loadMonitorConfig(env),
      (err) => err instanceof InvalidInputError && noIdentities.test(err.message),
    );
    assert.throws(() => loadMonitorConfig({ ...env, SIGSENTRY_IDENTITIES: '[]' }), noIdentities);
    const config = {
      project: 'p',
      monitor: { logs: [{ kind: 'rekor-v1', url: log.rekor.url, publicKey: log.rekor.publicKeyPem }] },
    };
    assert.throws(() => loadMonitorConfig({ SIGSENTRY_CONFIG: JSON.stringify(config) }), noIdentities);
  });

  it('a run is refused before it touches the state: the owned entries stay unscanned, for a later run to find', async () => {
    const store = new MemoryMonitorStore();
    const alerts = new MemoryAlertSink();
    await assert.rejects(runMonitor(depsWith(store, alerts)), noIdentities);
    assert.equal(store.states.size, 0, 'no cursor moved past the entries');

    const deps = depsWith(store, alerts);
    deps.identities = await resolveIdentities([{ type: 'publicKey', pem: pemOf(ours.publicKey) }], () =>
      Promise.reject(new Error('no KMS here')),
    );
    const result = await runMonitor(deps);
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal(alerts.ofKind('rogue-signature').length, 3, 'each owned entry is found once deployed right');
  });

  it('a fan-out shard is refused too', async () => {
    const deps = depsWith(new MemoryMonitorStore(), new MemoryAlertSink());
    await assert.rejects(runMonitorShard(deps, { log: 'rekor', plan: 'p', start: 0 }), noIdentities);
  });
});
