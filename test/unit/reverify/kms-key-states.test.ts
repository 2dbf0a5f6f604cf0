/**
 * reverifyImages and the states of its KMS key versions, where no public key is kept:
 * - a key version refused for its state (DISABLED, …) with no kept key: a `publicKeys` PEM that may
 *   be that very key (nothing to compare it with) never passes an image on its own: its signatures
 *   are judged with the refused key version's state, `key-disabled`, as a kept key's are;
 * - a kept-key store that fails (read or write) is reported in the pass's `errors`, not only logged,
 *   and a failed write is tried again by the next pass;
 * - a key version Cloud KMS is still generating (PENDING_GENERATION, PENDING_IMPORT) is not a
 *   disabled key: no `key-disabled` alert, the other rules verified, and it is trusted once ready.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import type { RegistryClient } from '../../../functions/registry/client.ts';
import { loadReverifyConfig } from '../../../functions/reverify/config.ts';
import {
  type KeptKey,
  type KeptKeyStore,
  MemoryKeptKeyStore,
} from '../../../functions/reverify/kept-keys.ts';
import { keyAlertKey } from '../../../functions/reverify/key-alerts.ts';
import { ownedPolicies } from '../../../functions/reverify/owned-policies.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import type { TestRegistry } from '../../helpers/registry.ts';
import { fakeKms, kmsFailure, localKey, reverifyPass, startSignedRegistry, v1Refs } from './key-fixtures.ts';

/** A store whose reads or writes fail, as Firestore unreachable, until `heal()`. */
class FlakyStore extends MemoryKeptKeyStore {
  failReads: boolean;
  failWrites: boolean;
  constructor(fail: { reads?: boolean; writes?: boolean }) {
    super();
    this.failReads = fail.reads ?? false;
    this.failWrites = fail.writes ?? false;
  }
  override async get(keyVersion: string): Promise<KeptKey | undefined> {
    if (this.failReads) throw new Error('firestore unavailable (read)');
    return await super.get(keyVersion);
  }
  override async put(key: KeptKey): Promise<void> {
    if (this.failWrites) throw new Error('firestore unavailable (write)');
    await super.put(key);
  }
}

describe('reverify and KMS key states with no kept key', () => {
  let registry: TestRegistry;
  let client: RegistryClient;
  const keyA = localKey('ks-a');
  const keyB = localKey('ks-b');
  /** A key that is only a PEM (a key being rotated in), no KMS key version of the configuration. */
  const keyC = localKey('ks-c');
  const refused = new Map<string, string>();
  const states = new Map<string, string>();
  const failures = new Map<string, Error>();
  const { kmsKey, calls } = fakeKms([keyA, keyB], refused, failures);

  before(async () => {
    ({ registry, client } = await startSignedRegistry([
      ['a/app', keyA],
      ['b/app', keyB],
      ['c/app', keyC],
    ]));
  });
  after(async () => {
    await registry?.stop();
  });
  const { ref, statusOf } = v1Refs(() => registry.host);

  const configWith = (publicKeys: string[]) =>
    loadReverifyConfig({
      SIGSENTRY_CONFIG: JSON.stringify({
        project: 'p',
        log: { kind: 'none' },
        watch: [
          { repositories: `${registry.host}/a/**`, key: keyA.name },
          { repositories: `${registry.host}/b/**`, key: keyB.name },
          { repositories: `${registry.host}/c/**`, key: keyA.name },
        ],
        publicKeys,
      }),
    });

  const runtime = async (publicKeys: string[], keptKeys: KeptKeyStore) => {
    const logger = createMemoryLogger();
    const alerts = new RecordingAlertSink();
    const store = new MemoryTagStore();
    const config = configWith(publicKeys);
    const policies = await ownedPolicies(config, kmsKey, { keptKeys, logger });
    const watch = config.watch.map((r) => r.repositories);
    const pass = async () =>
      await reverifyPass(await policies.forPass(), { client, store, alerts, logger, watch, states });
    return { pass, alerts, logger };
  };

  const reset = () => {
    refused.clear();
    states.clear();
    failures.clear();
  };

  it("a DISABLED key version's PEM twin in publicKeys does not pass its images: key-disabled, as with a kept key", async () => {
    refused.set(keyB.name, 'DISABLED');
    states.set(keyB.name, 'DISABLED');
    try {
      const { pass, alerts } = await runtime([keyB.pem, keyC.pem], new MemoryKeptKeyStore());
      const summary = await pass();
      assert.equal(statusOf(summary, 'a/app'), 'valid');
      assert.equal(statusOf(summary, 'b/app'), 'key-disabled');
      assert.deepEqual(alerts.openKinds(ref('b/app')), ['key-disabled']);
      // A PEM-only key may be that key version's too: nothing tells them apart while none is kept.
      assert.equal(statusOf(summary, 'c/app'), 'key-disabled');
      assert.deepEqual(summary.keysNotEnabled, [
        { keyVersion: keyB.name, state: 'DISABLED', trusted: false },
      ]);
      const keyAlert = alerts.open.get(keyAlertKey(keyB.name));
      assert.equal((keyAlert?.evidence['publicKeysJudged'] as unknown[] | undefined)?.length, 2);
      assert.match(keyAlert?.summary ?? '', /publicKeys/);
    } finally {
      reset();
    }
  });

  it('the same PEMs pass once the key is enabled again, with no restart', async () => {
    refused.set(keyB.name, 'DISABLED');
    states.set(keyB.name, 'DISABLED');
    try {
      const { pass } = await runtime([keyC.pem], new MemoryKeptKeyStore());
      assert.equal(statusOf(await pass(), 'c/app'), 'key-disabled');
      reset();
      const healed = await pass();
      assert.equal(statusOf(healed, 'b/app'), 'valid');
      assert.equal(statusOf(healed, 'c/app'), 'valid');
    } finally {
      reset();
    }
  });

  it('reports a kept key that cannot be read in the pass errors and in the key alert', async () => {
    refused.set(keyB.name, 'DISABLED');
    states.set(keyB.name, 'DISABLED');
    try {
      const { pass, alerts, logger } = await runtime([keyB.pem], new FlakyStore({ reads: true }));
      const summary = await pass();
      assert.notEqual(statusOf(summary, 'b/app'), 'valid');
      assert.equal(statusOf(summary, 'a/app'), 'valid');
      const error = summary.errors.find((e) => e.ref === `reverify-keys/${keyB.name}`);
      assert.match(error?.error ?? '', /reading.*unavailable/s);
      const keyAlert = alerts.open.get(keyAlertKey(keyB.name));
      assert.match(String(keyAlert?.evidence['keptKeyError']), /unavailable/);
      assert.ok(logger.entries.some((e) => e.severity === 'ERROR' && e['operation'] === 'read'));
    } finally {
      reset();
    }
  });

  it('reports a kept key that cannot be written in the pass errors, and writes it on the next pass', async () => {
    const store = new FlakyStore({ writes: true });
    const { pass } = await runtime([], store);
    const first = await pass();
    assert.equal(statusOf(first, 'a/app'), 'valid');
    assert.equal(statusOf(first, 'b/app'), 'valid');
    assert.deepEqual(first.errors.map((e) => e.ref).sort(), [
      `reverify-keys/${keyA.name}`,
      `reverify-keys/${keyB.name}`,
    ]);
    assert.match(first.errors[0]?.error ?? '', /writing.*unavailable/s);
    store.failWrites = false;
    const second = await pass();
    assert.deepEqual(second.errors, []);
    assert.deepEqual([...store.keys.keys()].sort(), [keyA.name, keyB.name].sort());
    const third = await pass();
    assert.deepEqual(third.errors, []);
    assert.equal(store.writes.length, 2);
  });

  it('a key version still being generated raises no key-disabled alert, and is trusted once ready', async () => {
    for (const state of ['PENDING_GENERATION', 'PENDING_IMPORT']) {
      failures.set(
        keyB.name,
        kmsFailure(
          status.FAILED_PRECONDITION,
          `${keyB.name} is not enabled, current state is: ${state}.`,
          keyB.name,
        ),
      );
      try {
        const { pass, alerts, logger } = await runtime([], new MemoryKeptKeyStore());
        const summary = await pass();
        assert.equal(statusOf(summary, 'a/app'), 'valid');
        assert.deepEqual(summary.keysNotEnabled, [], state);
        assert.equal(
          alerts.calls.some((c) => c.op === 'raise' && c.alert.kind === 'key-disabled'),
          false,
          state,
        );
        assert.ok(logger.entries.some((e) => e.severity === 'WARNING' && e['state'] === state));
        failures.clear();
        const asked = calls.length;
        const ready = await pass();
        assert.ok(calls.slice(asked).includes(keyB.name));
        assert.equal(statusOf(ready, 'b/app'), 'valid');
      } finally {
        reset();
      }
    }
  });
});
