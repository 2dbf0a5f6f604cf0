/**
 * The public keys of the expected KMS key versions, kept as KMS gave them (kept-keys.ts), and used
 * only for a key version KMS refuses for its state: its images are then `key-disabled` on an instance
 * started after the key was disabled, as on one started before, never valid (even with a kept key
 * that is not the key version's, or a key enabled meanwhile). A store that fails never fails the
 * build or the pass while KMS gives the keys; it is reported in the pass's errors. The passes run the core over a real registry, KMS's
 * answers given by a map of states.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import type { RegistryClient } from '../../../functions/registry/client.ts';
import { loadReverifyConfig } from '../../../functions/reverify/config.ts';
import {
  type KeptKey,
  type KeptKeyStore,
  keptKeyDocumentId,
  MemoryKeptKeyStore,
} from '../../../functions/reverify/kept-keys.ts';
import { keyAlertKey } from '../../../functions/reverify/key-alerts.ts';
import * as owned from '../../../functions/reverify/owned-policies.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { expectedKeyFromPem } from '../../../functions/verify/policy.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import type { TestRegistry } from '../../helpers/registry.ts';
import { fakeKms, localKey, reverifyPass, startSignedRegistry, twoRules, v1Refs } from './key-fixtures.ts';

const { ownedPolicies } = owned;

const kept = (key: { name: string; pem: string }, readAt = '2026-01-01T00:00:00.000Z'): KeptKey => ({
  keyVersion: key.name,
  pem: key.pem,
  algorithm: 'EC_SIGN_P256_SHA256',
  readAt,
});

/** A store every call of which fails, as Firestore unreachable. */
class FailingStore implements KeptKeyStore {
  calls = 0;
  async get(): Promise<KeptKey | undefined> {
    this.calls++;
    throw new Error('firestore unavailable');
  }
  async put(): Promise<void> {
    this.calls++;
    throw new Error('firestore unavailable');
  }
}

describe('kept KMS public keys: the policies', () => {
  const keyA = localKey('kept-a');
  const keyB = localKey('kept-b');
  const attacker = localKey('attacker');
  const host = 'h.example';
  const config = twoRules(host, keyA.name, keyB.name);
  const idsOf = (policies: Awaited<ReturnType<Awaited<ReturnType<typeof ownedPolicies>>['forPass']>>) => ({
    a: policies.ownedPolicy(`${host}/a/app`).keys.map((k) => k.id),
    b: policies.ownedPolicy(`${host}/b/app`).keys.map((k) => k.id),
  });

  it('keeps each public key KMS gives, once, and again only when it differs', async () => {
    const store = new MemoryKeptKeyStore();
    const { kmsKey } = fakeKms([keyA, keyB], new Map());
    const now = () => new Date('2026-02-02T00:00:00Z');
    await (await ownedPolicies(config, kmsKey, { keptKeys: store, now })).forPass();
    assert.deepEqual(
      [...store.keys.values()].sort((x, y) => x.keyVersion.localeCompare(y.keyVersion)),
      [kept(keyA, '2026-02-02T00:00:00.000Z'), kept(keyB, '2026-02-02T00:00:00.000Z')],
    );
    assert.equal(store.writes.length, 2);

    await ownedPolicies(config, kmsKey, { keptKeys: store, now });
    assert.equal(store.writes.length, 2, 'the same keys are not written again');

    store.keys.set(keyB.name, kept({ name: keyB.name, pem: attacker.pem }));
    await ownedPolicies(config, kmsKey, { keptKeys: store, now });
    assert.deepEqual(store.writes.slice(2), [kept(keyB, '2026-02-02T00:00:00.000Z')], 'a different one is');
  });

  it('uses a kept key only for a key version KMS refuses for its state', async () => {
    const store = new MemoryKeptKeyStore();
    // Kept keys that are not the key versions': one KMS gives is verified with KMS's key all the same.
    store.keys.set(keyA.name, kept({ name: keyA.name, pem: attacker.pem }));
    store.keys.set(keyB.name, kept(keyB));
    const states = new Map([[keyB.name, 'DISABLED']]);
    const { calls, kmsKey } = fakeKms([keyA, keyB], states);
    const policies = await ownedPolicies(config, kmsKey, { keptKeys: store });
    const first = await policies.forPass();
    const keptB = first.ownedPolicy(`${host}/b/app`).keys;
    assert.deepEqual(idsOf(first).a, [keyA.name]);
    assert.equal(first.ownedPolicy(`${host}/a/app`).keys[0]!.hint, expectedKeyFromPem(keyA.pem).hint);
    assert.deepEqual(
      keptB.map((k) => [k.id, k.keyVersion, k.hint]),
      [[owned.keptKeyId(keyB.name, keptB[0]!.hint), keyB.name, expectedKeyFromPem(keyB.pem).hint]],
    );
    assert.notEqual(keptB[0]!.id, keyB.name, 'an id of its own: verdicts under it are not reused');
    assert.deepEqual(first.keys.trusted, [keyA.name]);
    assert.deepEqual(first.keys.unavailable[0]?.kept, { readAt: '2026-01-01T00:00:00.000Z' });
    assert.deepEqual(
      store.writes.map((w) => [w.keyVersion, w.pem]),
      [[keyA.name, keyA.pem]],
      "A's kept key, not KMS's, is written over; a refused key's is not written",
    );

    // KMS is asked again each pass; once it gives the key, the kept one is gone from the policy.
    states.delete(keyB.name);
    const healed = await policies.forPass();
    assert.deepEqual(calls.filter((c) => c === keyB.name).length, 2);
    assert.deepEqual(idsOf(healed), { a: [keyA.name], b: [keyB.name] });
    assert.deepEqual(healed.keys.unavailable, []);
  });

  it('does not use a kept key that is another trusted key', async () => {
    const store = new MemoryKeptKeyStore();
    const logger = createMemoryLogger();
    // Rule B's repositories expect key A too (a key of every repository): B's kept key is A's.
    const both = loadReverifyConfig({
      SIGSENTRY_CONFIG: JSON.stringify({
        project: 'p',
        keys: [keyA.name],
        watch: [{ repositories: `${host}/b/**`, key: keyB.name }],
        log: { kind: 'none' },
      }),
    });
    store.keys.set(keyB.name, kept({ name: keyB.name, pem: keyA.pem }));
    const { kmsKey } = fakeKms([keyA, keyB], new Map([[keyB.name, 'DISABLED']]));
    const first = await (await ownedPolicies(both, kmsKey, { keptKeys: store, logger })).forPass();
    assert.deepEqual(
      first.ownedPolicy(`${host}/b/app`).keys.map((k) => k.id),
      [keyA.name],
    );
    assert.equal(first.keys.unavailable[0]?.kept, undefined);
    assert.ok(logger.entries.some((e) => e.severity === 'ERROR' && e['keyVersion'] === keyB.name));
  });

  it('builds and passes when the store fails while KMS gives the keys, with an ERROR line each', async () => {
    const logger = createMemoryLogger();
    const store = new FailingStore();
    const { kmsKey } = fakeKms([keyA, keyB], new Map());
    const first = await (await ownedPolicies(config, kmsKey, { keptKeys: store, logger })).forPass();
    assert.deepEqual(idsOf(first), { a: [keyA.name], b: [keyB.name] });
    assert.equal(store.calls, 2);
    const lines = logger.entries.filter((e) => e.severity === 'ERROR');
    assert.deepEqual(lines.map((e) => [e['keyVersion'], e['operation'], e['collection']]).sort(), [
      [keyA.name, 'keep', 'reverify-keys'],
      [keyB.name, 'keep', 'reverify-keys'],
    ]);
    assert.match(
      String((lines[0]?.['error'] as { message?: string })?.message ?? lines[0]?.['error']),
      /unavailable/,
    );
  });

  it('trusts a refused key for nothing when its kept key cannot be read, with an ERROR line', async () => {
    const logger = createMemoryLogger();
    const { kmsKey } = fakeKms([keyA, keyB], new Map([[keyB.name, 'DISABLED']]));
    const first = await (
      await ownedPolicies(config, kmsKey, { keptKeys: new FailingStore(), logger })
    ).forPass();
    assert.deepEqual(idsOf(first), { a: [keyA.name], b: [] });
    assert.equal(first.keys.unavailable[0]?.kept, undefined);
    const line = logger.entries.find((e) => e.severity === 'ERROR' && e['operation'] === 'read');
    assert.equal(line?.['keyVersion'], keyB.name);
  });

  it('names documents without a slash', () => {
    const id = keptKeyDocumentId(keyA.name);
    assert.doesNotMatch(id, /\//);
    assert.notEqual(keptKeyDocumentId('a/b'), keptKeyDocumentId('a%2Fb'));
    assert.equal(decodeURIComponent(id), keyA.name);
  });

  it('a pass with kept keys and no key-state lookup is refused', () => {
    const keys = {
      trusted: [],
      unavailable: [
        { keyVersion: keyB.name, state: 'DISABLED', error: 'x', repositories: [], kept: { readAt: 'x' } },
      ],
    };
    assert.throws(() => owned.pinKeptKeyStates(keys, undefined), /key states/);
    assert.equal(owned.pinKeptKeyStates({ trusted: [], unavailable: [] }, undefined), undefined);
  });
});

describe('kept KMS public keys: passes while a watch rule key is not enabled', () => {
  let registry: TestRegistry;
  let client: RegistryClient;
  const keyA = localKey('pass-kept-a');
  const keyB = localKey('pass-kept-b');
  const attacker = localKey('pass-attacker');
  /** What KMS refuses the public key for, and what it answers for the state: apart, to race them. */
  const refused = new Map<string, string>();
  const states = new Map<string, string>();
  const { kmsKey } = fakeKms([keyA, keyB], refused);

  before(async () => {
    ({ registry, client } = await startSignedRegistry([
      ['a/app', keyA],
      ['b/app', keyB],
      ['b/evil', attacker],
    ]));
  });
  after(async () => {
    await registry?.stop();
  });

  const { ref, statusOf } = v1Refs(() => registry.host);

  /** A runtime's passes, as from-env.ts runs them, over one tag store and alert sink. */
  const runtime = async (keptKeys: KeptKeyStore, logger = createMemoryLogger()) => {
    const store = new MemoryTagStore();
    const alerts = new RecordingAlertSink();
    const policies = await ownedPolicies(twoRules(registry.host, keyA.name, keyB.name), kmsKey, {
      keptKeys,
      logger,
    });
    const watch = [`${registry.host}/a/**`, `${registry.host}/b/**`];
    const pass = async () =>
      await reverifyPass(await policies.forPass(), { client, store, alerts, logger, watch, states });
    return { pass, alerts, logger };
  };

  it('a fresh instance with the kept key reports rule B key-disabled, as a warm one, and says the key is used', async () => {
    const store = new MemoryKeptKeyStore();
    await (await runtime(store)).pass(); // an instance that read the keys while enabled kept them
    refused.set(keyB.name, 'DISABLED');
    states.set(keyB.name, 'DISABLED');
    try {
      const { pass, alerts, logger } = await runtime(store);
      const summary = await pass();
      assert.deepEqual(summary.errors, []);
      assert.equal(statusOf(summary, 'a/app'), 'valid');
      assert.equal(statusOf(summary, 'b/app'), 'key-disabled');
      assert.equal(statusOf(summary, 'b/evil'), 'unsigned');
      assert.deepEqual(alerts.openKinds(ref('b/app')), ['key-disabled']);
      assert.deepEqual(summary.keysNotEnabled, [{ keyVersion: keyB.name, state: 'DISABLED', trusted: true }]);
      const keyAlert = alerts.open.get(keyAlertKey(keyB.name));
      assert.equal(keyAlert?.evidence['trusted'], true);
      assert.match(keyAlert?.summary ?? '', /kept/);
      const line = logger.entries.find((e) => e.severity === 'ERROR' && e['keyVersion'] === keyB.name);
      assert.equal(line?.['trusted'], true);
    } finally {
      refused.clear();
      states.clear();
    }
  });

  it("a tampered kept key never passes an image: not when the key is enabled between KMS's refusal and the state check, nor once KMS gives it", async () => {
    const store = new MemoryKeptKeyStore();
    store.keys.set(keyB.name, kept({ name: keyB.name, pem: attacker.pem }));
    refused.set(keyB.name, 'DISABLED');
    states.set(keyB.name, 'DISABLED');
    try {
      const { pass } = await runtime(store);
      const disabled = await pass();
      assert.equal(statusOf(disabled, 'b/evil'), 'key-disabled', 'a failing verdict for a failing one');
      assert.equal(statusOf(disabled, 'b/app'), 'unsigned');

      // KMS refused the key for this pass, and it is enabled before the tags' state checks.
      states.delete(keyB.name);
      const raced = await pass();
      assert.equal(statusOf(raced, 'b/evil'), 'key-disabled');
      assert.equal(raced.byStatus.valid, 1, 'only a/app');

      refused.delete(keyB.name);
      const enabled = await pass();
      assert.equal(statusOf(enabled, 'b/evil'), 'unsigned', 'verified again, not a recorded verdict reused');
      assert.equal(statusOf(enabled, 'b/app'), 'valid');
      assert.deepEqual(
        store.writes.map((w) => [w.keyVersion, w.pem]),
        [
          [keyA.name, keyA.pem],
          [keyB.name, keyB.pem],
        ],
        'the key KMS gave is kept over the tampered one',
      );
    } finally {
      refused.clear();
      states.clear();
    }
  });

  it('passes when the store fails while KMS gives the keys, and trusts for nothing a refused key it cannot read', async () => {
    const { pass, logger } = await runtime(new FailingStore());
    const summary = await pass();
    // Reported in the pass, not only logged (kms-key-states.test.ts).
    assert.deepEqual(
      summary.errors.map((e) => e.ref).sort(),
      [`reverify-keys/${keyA.name}`, `reverify-keys/${keyB.name}`].sort(),
    );
    assert.equal(statusOf(summary, 'a/app'), 'valid');
    assert.equal(statusOf(summary, 'b/app'), 'valid');
    assert.ok(logger.entries.some((e) => e.severity === 'ERROR' && e['operation'] === 'keep'));

    refused.set(keyB.name, 'DISABLED');
    states.set(keyB.name, 'DISABLED');
    try {
      const fresh = await runtime(new FailingStore());
      const refusedPass = await fresh.pass();
      assert.deepEqual(
        refusedPass.errors.map((e) => e.ref).sort(),
        [`reverify-keys/${keyA.name}`, `reverify-keys/${keyB.name}`].sort(),
      );
      assert.equal(statusOf(refusedPass, 'b/app'), 'unsigned');
      assert.deepEqual(refusedPass.keysNotEnabled, [
        { keyVersion: keyB.name, state: 'DISABLED', trusted: false },
      ]);
      assert.ok(fresh.logger.entries.some((e) => e.severity === 'ERROR' && e['operation'] === 'read'));
    } finally {
      refused.clear();
      states.clear();
    }
  });
});
