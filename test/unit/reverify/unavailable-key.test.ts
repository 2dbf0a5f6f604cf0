/**
 * A KMS key version the watched repositories expect that is not ENABLED, whose public key KMS
 * therefore refuses (FAILED_PRECONDITION): reverifyImages builds and runs its passes without it, says
 * so on every pass (a `key-disabled` alert naming the key version, an ERROR line), asks KMS again
 * each pass, and heals when the key is enabled. Any other refusal still fails, as before. The
 * classification is checked against the KMS emulator through the real client; the passes run the
 * core over a real registry, KMS's answers given by a map of states.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { ensureSigningKey } from '../../../emulators/kms/setup.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import type { RegistryClient } from '../../../functions/registry/client.ts';
import { keyAlertKey } from '../../../functions/reverify/key-alerts.ts';
import { ownedPolicies } from '../../../functions/reverify/owned-policies.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { KmsKeyUnusableError } from '../../../functions/signing/errors.ts';
import { refusedKeyState } from '../../../functions/signing/kms-signer.ts';
import { expectedKeyFromKms, policyId } from '../../../functions/verify/policy.ts';
import { setKeyVersionState } from '../../helpers/kms.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import type { TestRegistry } from '../../helpers/registry.ts';
import { startHarness } from '../kms/helpers.ts';
import {
  fakeKms as fakeKmsOver,
  keyVersion,
  kmsFailure,
  localKey as localKmsKey,
  refusedAs,
  reverifyPass,
  startSignedRegistry,
  twoRules,
  v1Refs,
} from './key-fixtures.ts';

describe('a KMS public key refused for the key version state', () => {
  it('is told from every other KMS failure, through the real client and the KMS emulator', async () => {
    const h = await startHarness();
    try {
      const name = await ensureSigningKey(h.client, {
        project: 'p',
        location: 'global',
        keyRing: 'r',
        key: 'refused',
        algorithm: 'EC_SIGN_P256_SHA256',
      });
      await setKeyVersionState(h.client, name, 'DISABLED');
      const disabled = await expectedKeyFromKms(h.newClient(), name).then(
        () => assert.fail('the public key of a disabled key version was given'),
        (err: unknown) => err,
      );
      assert.ok(disabled instanceof KmsKeyUnusableError);
      assert.equal(refusedKeyState(disabled), 'DISABLED');

      const missing = await expectedKeyFromKms(h.client, name.replace(/\/1$/, '/9')).then(
        () => assert.fail('a key version that does not exist was given'),
        (err: unknown) => err,
      );
      assert.equal(refusedKeyState(missing), undefined, 'NOT_FOUND');
    } finally {
      await h.stop();
    }
  });

  it('counts FAILED_PRECONDITION only when KMS names a state other than ENABLED', () => {
    const name = keyVersion('k');
    for (const state of ['DISABLED', 'DESTROYED', 'DESTROY_SCHEDULED', 'PENDING_GENERATION']) {
      assert.equal(refusedKeyState(refusedAs(state, name)), state);
    }
    assert.equal(
      refusedKeyState(kmsFailure(status.FAILED_PRECONDITION, `${name} is not an asymmetric key.`, name)),
      undefined,
    );
    assert.equal(refusedKeyState(refusedAs('ENABLED', name)), undefined);
    for (const code of [status.PERMISSION_DENIED, status.NOT_FOUND, status.UNAVAILABLE]) {
      assert.equal(
        refusedKeyState(kmsFailure(code, 'current state is: DISABLED', name)),
        undefined,
        `${code}`,
      );
    }
    assert.equal(refusedKeyState(new Error('current state is: DISABLED')), undefined);
  });
});

describe('the policies of watch rules whose key KMS refuses', () => {
  const keyA = localKmsKey('a');
  const keyB = localKmsKey('b');
  const host = 'h.example';
  const config = twoRules(host, keyA.name, keyB.name);

  /** KMS's GetPublicKey over the two local keys: refused for a state, or failing as `failure` says. */
  const fakeKms = (states: Map<string, string>, failure?: Map<string, Error>) =>
    fakeKmsOver([keyA, keyB], states, failure);

  it('still fails to build when KMS denies a key, cannot find it, or cannot be reached', async () => {
    for (const [code, type] of [
      [status.PERMISSION_DENIED, KmsKeyUnusableError],
      [status.NOT_FOUND, KmsKeyUnusableError],
      [status.UNAVAILABLE, DependencyError],
    ] as const) {
      const { kmsKey } = fakeKms(
        new Map(),
        new Map([[keyB.name, kmsFailure(code, `no ${keyB.name}`, keyB.name)]]),
      );
      await assert.rejects(ownedPolicies(config, kmsKey), type, `${code}`);
    }
  });

  it('leaves a refused key out, asks for it once a pass, and gives the policy another id when it is back', async () => {
    const states = new Map([[keyB.name, 'DISABLED']]);
    const { calls, kmsKey } = fakeKms(states);
    const owned = await ownedPolicies(config, kmsKey);
    assert.deepEqual(calls.sort(), [keyA.name, keyB.name].sort());

    const first = await owned.forPass();
    assert.equal(calls.length, 2, 'the first pass uses what the build fetched');
    assert.deepEqual(
      first.ownedPolicy(`${host}/a/app`).keys.map((k) => k.id),
      [keyA.name],
    );
    assert.deepEqual(first.ownedPolicy(`${host}/b/app`).keys, [], 'key B trusted for nothing');
    assert.deepEqual(first.keys, {
      trusted: [keyA.name],
      unavailable: [
        {
          keyVersion: keyB.name,
          state: 'DISABLED',
          error: `KMS key version cannot be used: ${keyB.name} is not enabled, current state is: DISABLED.`,
          repositories: [`${host}/b/**`],
        },
      ],
    });

    const second = await owned.forPass();
    assert.deepEqual(calls.slice(2), [keyB.name], 'only the refused key is asked for again');
    for (const repository of [`${host}/a/app`, `${host}/b/app`]) {
      assert.equal(second.ownedPolicy(repository), first.ownedPolicy(repository), 'nothing changed');
    }

    states.set(keyB.name, 'ENABLED');
    const healed = await owned.forPass();
    assert.deepEqual(calls.slice(3), [keyB.name]);
    assert.deepEqual(healed.keys, { trusted: [keyA.name, keyB.name], unavailable: [] });
    assert.equal(healed.ownedPolicy(`${host}/a/app`), first.ownedPolicy(`${host}/a/app`));
    const b = healed.ownedPolicy(`${host}/b/app`);
    assert.deepEqual(
      b.keys.map((k) => k.id),
      [keyB.name],
    );
    assert.notEqual(policyId(b), policyId(first.ownedPolicy(`${host}/b/app`)));

    await owned.forPass();
    assert.equal(calls.length, 4, 'keys KMS gave are not asked for again');
  });

  it('fails a pass whose retry is refused otherwise, and the next pass retries', async () => {
    const states = new Map([[keyB.name, 'DISABLED']]);
    const failure = new Map<string, Error>();
    const { kmsKey } = fakeKms(states, failure);
    const owned = await ownedPolicies(config, kmsKey);
    await owned.forPass();
    failure.set(keyB.name, kmsFailure(status.PERMISSION_DENIED, 'denied', keyB.name));
    await assert.rejects(owned.forPass(), KmsKeyUnusableError);
    failure.clear();
    states.delete(keyB.name);
    assert.deepEqual((await owned.forPass()).keys.unavailable, []);
  });
});

describe('passes while a watch rule key is not enabled', () => {
  let registry: TestRegistry;
  let client: RegistryClient;
  const keyA = localKmsKey('pass-a');
  const keyB = localKmsKey('pass-b');
  const states = new Map<string, string>();
  const store = new MemoryTagStore();
  const alerts = new RecordingAlertSink();
  const logger = createMemoryLogger();
  const { kmsKey } = fakeKmsOver([keyA, keyB], states);

  before(async () => {
    ({ registry, client } = await startSignedRegistry([
      ['a/app', keyA],
      ['b/app', keyB],
    ]));
  });
  after(async () => {
    await registry?.stop();
  });

  const { ref, statusOf } = v1Refs(() => registry.host);

  /** One pass of a runtime's policies, as from-env.ts runs it. */
  const passOf = (owned: Awaited<ReturnType<typeof ownedPolicies>>) => async () => {
    const watch = [`${registry.host}/a/**`, `${registry.host}/b/**`];
    return await reverifyPass(await owned.forPass(), { client, store, alerts, logger, watch, states });
  };

  it('a fresh instance: reports rule B unsigned and its key, verifies rule A, and heals on the same runtime', async () => {
    states.set(keyB.name, 'DISABLED');
    const pass = passOf(await ownedPolicies(twoRules(registry.host, keyA.name, keyB.name), kmsKey));
    const summary = await pass();
    assert.deepEqual(summary.errors, []);
    assert.equal(statusOf(summary, 'a/app'), 'valid');
    assert.equal(statusOf(summary, 'b/app'), 'unsigned');
    assert.deepEqual(alerts.openKinds(ref('b/app')), ['unsigned-image']);
    assert.deepEqual(summary.keysNotEnabled, [{ keyVersion: keyB.name, state: 'DISABLED', trusted: false }]);
    const keyAlert = alerts.open.get(keyAlertKey(keyB.name));
    assert.equal(keyAlert?.kind, 'key-disabled');
    assert.equal(keyAlert?.subject, keyB.name);
    assert.equal(keyAlert?.severity, 'HIGH');
    assert.equal(keyAlert?.evidence['state'], 'DISABLED');
    assert.deepEqual(keyAlert?.evidence['repositories'], [`${registry.host}/b/**`]);
    const line = logger.entries.find((e) => e.severity === 'ERROR' && e['keyVersion'] === keyB.name);
    assert.equal(line?.['state'], 'DISABLED', JSON.stringify(logger.entries));
    assert.deepEqual(line?.['repositories'], [`${registry.host}/b/**`]);

    // Every pass says so again.
    const mark = alerts.calls.length;
    await pass();
    assert.ok(alerts.raisedSince(mark).some((a) => a.key === keyAlertKey(keyB.name)));

    states.delete(keyB.name);
    const healed = await pass();
    assert.deepEqual(healed.errors, []);
    assert.equal(statusOf(healed, 'b/app'), 'valid');
    assert.equal(statusOf(healed, 'a/app'), 'valid');
    assert.deepEqual(healed.keysNotEnabled, []);
    assert.deepEqual(alerts.openKinds(ref('b/app')), []);
    assert.equal(alerts.open.get(keyAlertKey(keyB.name)), undefined, 'the key alert is resolved');
  });

  it('a warm instance that read the key before raises the same key alert, and resolves it', async () => {
    const pass = passOf(await ownedPolicies(twoRules(registry.host, keyA.name, keyB.name), kmsKey));
    await pass();
    states.set(keyB.name, 'DISABLED');
    try {
      const summary = await pass();
      assert.equal(statusOf(summary, 'b/app'), 'key-disabled');
      assert.deepEqual(summary.keysNotEnabled, [{ keyVersion: keyB.name, state: 'DISABLED', trusted: true }]);
      assert.equal(alerts.open.get(keyAlertKey(keyB.name))?.subject, keyB.name);
    } finally {
      states.delete(keyB.name);
    }
    await pass();
    assert.equal(alerts.open.get(keyAlertKey(keyB.name)), undefined);
  });

  it('reports a key alert that could not be delivered as a pass error, and verifies the rest', async () => {
    states.set(keyB.name, 'DISABLED');
    const failing = alerts.raise;
    alerts.raise = async (alert) => {
      if (alert.key === keyAlertKey(keyB.name)) throw new Error('sink down');
      await failing.call(alerts, alert);
    };
    try {
      const pass = passOf(await ownedPolicies(twoRules(registry.host, keyA.name, keyB.name), kmsKey));
      const summary = await pass();
      assert.deepEqual(summary.errors, [{ ref: keyAlertKey(keyB.name), error: 'sink down' }]);
      assert.equal(statusOf(summary, 'a/app'), 'valid');
      assert.equal(statusOf(summary, 'b/app'), 'unsigned');
    } finally {
      alerts.raise = failing;
      states.delete(keyB.name);
    }
  });
});
