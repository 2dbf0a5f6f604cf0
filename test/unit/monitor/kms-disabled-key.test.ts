/**
 * An owned KMS key version that KMS refuses for its state (disabled when suspected compromised, or
 * at rotation step 4) must not stop monitorLog for every identity and log: it is watched with the
 * public key kept when KMS last gave it (reverify-keys), or, with none kept, the other identities
 * are watched and a HIGH alert names the key version that cannot be. A version still being
 * generated is not alerted on and is watched once KMS gives it. Through the KMS emulator and the
 * real client, as monitorDepsFromEnv builds an instance.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { KeyManagementServiceClient } from '@google-cloud/kms';
import type { AlertInput, AlertSink } from '../../../functions/alerts/alert.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { monitorDepsFromEnv } from '../../../functions/monitor-log/from-env.ts';
import { pemSha256 } from '../../../functions/monitor-log/identities.ts';
import { type KeptKey, MemoryKeptKeyStore } from '../../../functions/reverify/kept-keys.ts';
import { createPendingKeyVersion, ensureP256SigningKey, setKeyVersionState } from '../../helpers/kms.ts';
import { type Harness, LOCATION, PROJECT, startHarness } from '../kms/helpers.ts';

class Sink implements AlertSink {
  readonly raised: AlertInput[] = [];
  readonly resolved: string[] = [];
  failing = false;
  async raise(alert: AlertInput): Promise<void> {
    if (this.failing) throw new Error('alert channel down');
    this.raised.push(alert);
  }
  async resolve(key: string): Promise<void> {
    if (this.failing) throw new Error('alert channel down');
    this.resolved.push(key);
  }
}

class FailingWrites extends MemoryKeptKeyStore {
  failing = true;
  override async put(key: KeptKey): Promise<void> {
    if (this.failing) throw new Error('firestore unavailable');
    return super.put(key);
  }
}

class FailingReads extends MemoryKeptKeyStore {
  override async get(): Promise<KeptKey | undefined> {
    throw new Error('firestore unavailable');
  }
}

const pem = () =>
  crypto
    .generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .publicKey.export({ type: 'spki', format: 'pem' })
    .toString();

describe('monitorLog with an owned KMS key version that is not ENABLED', () => {
  let h: Harness;
  let kms: KeyManagementServiceClient;
  let keyVersion: string;
  let keyName: string;
  const other = pem();
  const logKey = pem();

  before(async () => {
    h = await startHarness();
    kms = h.client;
    ({ keyVersion, keyName } = await ensureP256SigningKey(kms, {
      project: PROJECT,
      location: LOCATION,
      keyRing: 'monitor',
      key: 'owned',
    }));
  });
  after(async () => {
    await h?.stop();
  });
  beforeEach(async () => {
    await setKeyVersionState(kms, keyVersion, 'ENABLED');
  });

  const envFor = (version: string) => ({
    GCP_PROJECT: 'p',
    REKOR_URL: 'https://rekor.example',
    REKOR_PUBLIC_KEY: logKey,
    KMS_ENDPOINT: h.emulator.endpoint,
    KMS_KEY: version,
    SIGSENTRY_IDENTITIES: JSON.stringify([{ type: 'publicKey', pem: other, name: 'another owned key' }]),
  });
  const start = (version: string, extra: { keptKeys?: MemoryKeptKeyStore; alerts?: Sink } = {}) => {
    const logger = createMemoryLogger();
    const alerts = extra.alerts ?? new Sink();
    const deps = monitorDepsFromEnv(envFor(version), {
      logger,
      alerts,
      firestore: {} as never,
      keptKeys: extra.keptKeys ?? new MemoryKeptKeyStore(),
    } as never);
    return { deps, logger, alerts };
  };
  const publicPem = async (name: string) => (await kms.getPublicKey({ name }))[0].pem!;
  const unwatchedAlerts = (sink: Sink, name: string) =>
    sink.raised.filter((a) => a.kind === 'key-disabled' && a.subject === name && a.severity === 'HIGH');

  it('DISABLED with its key kept: starts, and watches the key with the kept one', async () => {
    const keptKeys = new MemoryKeptKeyStore();
    const enabledPem = await publicPem(keyVersion);
    keptKeys.keys.set(keyVersion, { keyVersion, pem: enabledPem, readAt: '2026-01-01T00:00:00.000Z' });
    await setKeyVersionState(kms, keyVersion, 'DISABLED');
    const { deps, logger, alerts } = start(keyVersion, { keptKeys });
    const built = await deps;
    const kmsIdentity = built.identities.find((i) => i.type === 'key' && i.keyVersion === keyVersion);
    assert.equal(kmsIdentity?.type === 'key' && kmsIdentity.keySha256, pemSha256(enabledPem));
    assert.equal(built.identities.length, 2);
    assert.deepEqual(unwatchedAlerts(alerts, keyVersion), []);
    assert.ok(logger.entries.some((e) => e.severity === 'WARNING' && e['keyVersion'] === keyVersion));
  });

  it('DISABLED with no key kept: starts with the others, an ERROR line and a HIGH alert naming it; watched again once enabled', async () => {
    await setKeyVersionState(kms, keyVersion, 'DISABLED');
    const { deps, logger, alerts } = start(keyVersion);
    const built = await deps;
    assert.deepEqual(
      built.identities.map((i) => i.description),
      ['another owned key'],
    );
    const [alert] = unwatchedAlerts(alerts, keyVersion);
    assert.ok(alert, 'a HIGH alert names the key version');
    assert.equal(alert.evidence['state'], 'DISABLED');
    assert.match(alert.summary, /cannot watch/);
    assert.ok(logger.entries.some((e) => e.severity === 'ERROR' && e['keyVersion'] === keyVersion));

    // Every run asks again (and alerts again) while it is refused; once enabled it is watched, and resolved.
    const runtime = built as typeof built & { forRun(): Promise<{ deps: typeof built; errors: unknown[] }> };
    const again = await runtime.forRun();
    assert.equal(again.deps.identities.length, 1);
    assert.equal(unwatchedAlerts(alerts, keyVersion).length, 2);
    await setKeyVersionState(kms, keyVersion, 'ENABLED');
    const healed = await runtime.forRun();
    assert.deepEqual(healed.errors, []);
    assert.equal(healed.deps.identities.length, 2);
    assert.ok(alerts.resolved.includes(alert.key!));
  });

  it('keeps the public key KMS gave, so an instance started after the key is disabled watches it', async () => {
    const keptKeys = new MemoryKeptKeyStore();
    const first = await start(keyVersion, { keptKeys }).deps;
    assert.equal(first.identities.length, 2);
    const kept = keptKeys.keys.get(keyVersion);
    assert.equal(kept?.pem, await publicPem(keyVersion), 'kept as KMS gave it');
    assert.equal(kept?.algorithm, 'EC_SIGN_P256_SHA256');

    await setKeyVersionState(kms, keyVersion, 'DISABLED');
    const { deps, alerts } = start(keyVersion, { keptKeys });
    const later = await deps;
    const watched = later.identities.find((i) => i.type === 'key' && i.keyVersion === keyVersion);
    assert.equal(watched?.type === 'key' && watched.keySha256, pemSha256(kept!.pem));
    assert.deepEqual(unwatchedAlerts(alerts, keyVersion), []);
  });

  it('a kept-key store that cannot be written: the key is watched all the same, an ERROR line, kept on a later try', async () => {
    const keptKeys = new FailingWrites();
    const { deps, logger } = start(keyVersion, { keptKeys });
    const built = await deps;
    assert.equal(built.identities.length, 2);
    assert.ok(
      logger.entries.some(
        (e) => e.severity === 'ERROR' && e['keyVersion'] === keyVersion && e['operation'] === 'keep',
      ),
    );
    assert.equal(keptKeys.keys.size, 0);
    // Asked again on a later run while another owned key is refused, or at the next start.
    keptKeys.failing = false;
    await start(keyVersion, { keptKeys }).deps;
    assert.ok(keptKeys.keys.has(keyVersion));
  });

  it('an alert that cannot be raised does not stop it; the run is told', async () => {
    await setKeyVersionState(kms, keyVersion, 'DISABLED');
    const sink = new Sink();
    sink.failing = true;
    const { deps, logger } = start(keyVersion, { alerts: sink });
    const built = await deps;
    assert.equal(built.identities.length, 1);
    assert.ok(logger.entries.some((e) => e.severity === 'ERROR' && /alert/.test(String(e.message))));
    const runtime = built as typeof built & { forRun(): Promise<{ deps: typeof built; errors: unknown[] }> };
    const run = await runtime.forRun();
    assert.equal(run.errors.length, 1);
  });

  it('a kept-key store that cannot be read: the others watched, the alert says why', async () => {
    await setKeyVersionState(kms, keyVersion, 'DISABLED');
    const { deps, alerts } = start(keyVersion, { keptKeys: new FailingReads() });
    const built = await deps;
    assert.equal(built.identities.length, 1);
    const [alert] = unwatchedAlerts(alerts, keyVersion);
    assert.match(String(alert?.evidence['keptKeyError']), /firestore unavailable/);
  });

  it('a version still being generated: no alert, watched once KMS gives it', async () => {
    const created = await createPendingKeyVersion(h.emulator, kms, keyName, 1);
    const { deps, alerts } = start(created.name!);
    const built = await deps;
    assert.equal(built.identities.length, 1);
    assert.deepEqual(
      alerts.raised.filter((a) => a.kind === 'key-disabled'),
      [],
    );
    const runtime = built as typeof built & { forRun(): Promise<{ deps: typeof built; errors: unknown[] }> };
    const ready = await runtime.forRun();
    assert.equal(ready.deps.identities.length, 2);
  });

  it('any other refusal still fails the start (a configuration or outage error)', async () => {
    const missing = `${keyName}/cryptoKeyVersions/99`;
    await assert.rejects(start(missing).deps, /not found|NOT_FOUND|cannot be used/i);
  });
});
