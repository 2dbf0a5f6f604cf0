import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it, test } from 'node:test';
import type { Firestore } from '@google-cloud/firestore';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { FUNCTIONS } from '../../../functions/config/environment.ts';
import { InvalidInputError } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { loadMonitorConfig } from '../../../functions/monitor-log/config.ts';
import { monitorDepsFromEnv } from '../../../functions/monitor-log/from-env.ts';

const logKey = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .publicKey.export({ format: 'pem', type: 'spki' })
  .toString();
const keyVersion = 'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1';

describe('monitorLog configuration', () => {
  it('reads one log, the identities and the KMS key from plain variables', () => {
    const config = loadMonitorConfig({
      GCP_PROJECT: 'p',
      REKOR_URL: 'https://rekor.sigstore.dev',
      REKOR_PUBLIC_KEY: logKey,
      SIGSENTRY_IDENTITIES: JSON.stringify([
        { type: 'certificate', san: 'ci@example.com', issuer: 'https://accounts.google.com' },
      ]),
      KMS_KEY: keyVersion,
      MONITOR_START_INDEX: '12',
      MONITOR_MAX_ENTRIES: '5000',
    });
    assert.equal(config.logs[0]?.kind, 'rekor-v1');
    assert.equal(config.logs[0]?.name, 'rekor.sigstore.dev');
    assert.equal(config.logs[0]?.startIndex, 12);
    assert.equal(config.limits.maxEntriesPerRun, 5000);
    assert.deepEqual(
      config.identities.map((i) => i.type),
      ['certificate', 'kms'],
    );
  });

  it('reads several logs (shards) from SIGSENTRY_CONFIG', () => {
    const config = loadMonitorConfig({
      SIGSENTRY_CONFIG: JSON.stringify({
        project: 'p',
        monitor: {
          logs: [
            { name: 'shard-a', kind: 'rekor-v1', url: 'https://rekor.example', publicKey: logKey },
            {
              name: 'shard-b',
              kind: 'rekor-v1',
              url: 'https://rekor.example',
              publicKey: logKey,
              indexOffset: 100,
            },
          ],
          identities: [{ type: 'kms', keyVersion }],
        },
      }),
    });
    assert.deepEqual(
      config.logs.map((l) => l.name),
      ['shard-a', 'shard-b'],
    );
  });

  it('refuses what cannot work: no log, a bad identity, a bad index', () => {
    assert.throws(() => loadMonitorConfig({ GCP_PROJECT: 'p' }), /at least one log/);
    const base = { GCP_PROJECT: 'p', REKOR_URL: 'https://r.example', REKOR_PUBLIC_KEY: logKey };
    assert.throws(() => loadMonitorConfig({ ...base, SIGSENTRY_IDENTITIES: '[{"type":"kms"}]' }));
    assert.throws(() => loadMonitorConfig({ ...base, SIGSENTRY_IDENTITIES: '{' }), /not JSON/);
    assert.throws(() => loadMonitorConfig({ ...base, MONITOR_START_INDEX: '-1' }), /non-negative/);
  });

  it('a SIGSENTRY_CONFIG document that names no log, or misspells a monitor key, is refused, not read as no log', () => {
    const watch = [
      {
        repositories: 'europe-docker.pkg.dev/p/releases/**',
        key: 'projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1',
      },
    ];
    const v2 = { kind: 'rekor-v2', url: 'https://log2025-1.rekor.sigstore.dev', publicKey: logKey };
    const load = (doc: unknown) => () => loadMonitorConfig({ SIGSENTRY_CONFIG: JSON.stringify(doc) });
    assert.throws(load({ project: 'p', watch }), /names no log to monitor: give monitor.logs/);
    assert.throws(load({ project: 'p', watch, Log: { kind: 'none' } }), /names no log to monitor/);
    assert.throws(load({ project: 'p', watch, monitor: { log: [v2] } }), /names no log to monitor/);
    assert.throws(
      load({ project: 'p', watch, log: { kind: 'none' }, monitor: { logs: [v2], limit: { batchSize: 10 } } }),
      /Unrecognized key.*limit/s,
    );
  });

  it("reads each log's stalledAfterHours (false: never), and refuses what is not a number of hours", async () => {
    const env = (...settings: unknown[]) => ({
      SIGSENTRY_CONFIG: JSON.stringify({
        project: 'p',
        monitor: {
          logs: settings.map((stalledAfterHours, i) => ({
            name: `log-${i}`,
            kind: 'rekor-v1',
            url: 'https://rekor.example',
            publicKey: logKey,
            ...(stalledAfterHours !== undefined ? { stalledAfterHours } : {}),
          })),
          identities: [{ type: 'publicKey', pem: logKey }],
        },
      }),
    });
    const deps = await monitorDepsFromEnv(env(12, false, undefined), {
      logger: createMemoryLogger(),
      alerts: new MemoryAlertSink(),
      firestore: {} as Firestore,
    });
    assert.deepEqual(
      deps.logs.map((l) => l.stalledAfterMs),
      [12 * 3_600_000, false, undefined], // undefined: the default, 24 h (stall.ts)
    );
    // Under an hour, a slowly growing log would be raised and resolved on alternate runs.
    for (const bad of [0, 0.5, -1, 'off', '24', true, 24 * 91]) {
      assert.throws(
        () => loadMonitorConfig(env(bad)),
        /a number of hours from 1 to 2160, or false.*stalledAfterHours/s,
        String(bad),
      );
    }
  });

  it('reads MONITOR_STALLED_AFTER_HOURS for the log of the plain variables (false: never), and refuses anything else naming it', async () => {
    const plain = {
      GCP_PROJECT: 'p',
      REKOR_URL: 'https://rekor.example',
      REKOR_PUBLIC_KEY: logKey,
      SIGSENTRY_IDENTITIES: JSON.stringify([{ type: 'publicKey', pem: logKey }]),
    };
    const hours = (value?: string) =>
      loadMonitorConfig({
        ...plain,
        ...(value !== undefined ? { MONITOR_STALLED_AFTER_HOURS: value } : {}),
      }).logs[0]!.stalledAfterHours;
    assert.equal(hours('12'), 12);
    assert.equal(hours('1.5'), 1.5);
    assert.equal(hours('2160'), 2160);
    assert.equal(hours('false'), false);
    assert.equal(hours(), undefined); // the default, 24 h (stall.ts)
    assert.equal(hours(''), undefined);
    const deps = await monitorDepsFromEnv(
      { ...plain, MONITOR_STALLED_AFTER_HOURS: '12' },
      { logger: createMemoryLogger(), alerts: new MemoryAlertSink(), firestore: {} as Firestore },
    );
    assert.equal(deps.logs[0]!.stalledAfterMs, 12 * 3_600_000);
    for (const bad of [
      '0',
      '0.5',
      '-1',
      'off',
      'true',
      'False',
      '2161',
      '1e3',
      '12h',
      ' 12',
      'Infinity',
      '0x10',
    ]) {
      assert.throws(
        () => hours(bad),
        (err: unknown) =>
          err instanceof InvalidInputError &&
          /MONITOR_STALLED_AFTER_HOURS must be a number of hours .* or false/.test(err.message),
        bad,
      );
    }
    // Read with the plain variables only: a SIGSENTRY_CONFIG document gives each log its own.
    const config = loadMonitorConfig({
      SIGSENTRY_CONFIG: JSON.stringify({
        project: 'p',
        monitor: {
          logs: [{ kind: 'rekor-v1', url: 'https://rekor.example', publicKey: logKey }],
          identities: [{ type: 'publicKey', pem: logKey }],
        },
      }),
      MONITOR_STALLED_AFTER_HOURS: 'off',
    });
    assert.equal(config.logs[0]!.stalledAfterHours, undefined);
  });

  it('reads only variables the deployment contract lists for monitorLog', () => {
    const read = new Set<string>();
    const env = new Proxy(
      {
        GCP_PROJECT: 'p',
        REKOR_URL: 'https://r.example',
        REKOR_PUBLIC_KEY: logKey,
        KMS_KEY: keyVersion,
      } as NodeJS.ProcessEnv,
      {
        get(target, prop) {
          if (typeof prop === 'string') read.add(prop);
          return target[prop as string];
        },
      },
    );
    loadMonitorConfig(env);
    const listed = new Set(FUNCTIONS['monitorLog']!.env.map((v) => v.name));
    for (const name of read)
      if (name !== 'GOOGLE_CLOUD_PROJECT') assert.ok(listed.has(name), `${name} is not in the contract`);
    for (const name of ['ALERT_TOPIC', 'ALERT_WEBHOOK_URL', 'KMS_KEY', 'SIGSENTRY_IDENTITIES'])
      assert.ok(listed.has(name));
  });
});

test('a SIGSENTRY_CONFIG that is not a JSON object is a configuration error, not a crash (found by review)', () => {
  for (const value of ['null', '[]', '"monitor"', '42']) {
    assert.throws(
      () => loadMonitorConfig({ SIGSENTRY_CONFIG: value }),
      (err: unknown) => err instanceof InvalidInputError && /must be a JSON object/.test(err.message),
      value,
    );
  }
});
