/**
 * A crash between every pair of signOnPush's steps. The steps are the core's calls to its
 * dependencies (Firestore record, KMS, the log, the registry); an attempt "dies" after its N-th
 * call has taken effect: every later call hangs, as in a process that was killed there. Then a
 * fresh core (another instance, its clock past the dead attempt's lease) handles the redelivery.
 * For every N the end state must be the same as a signing that never crashed: one cosign
 * signature, one bundle referrer, the log grown by exactly two entries (one per format), and the
 * record attached.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readCosignSignatures } from '../../../functions/attach/cosign-layout.ts';
import { FirestoreSubjectLock } from '../../../functions/attach/firestore-subject-lock.ts';
import { InProcessSubjectLock, NestedSubjectLock } from '../../../functions/attach/lock.ts';
import { listBundleReferrers } from '../../../functions/attach/referrer.ts';
import { DependencyError, isRetryable } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { createSignOnPush, type SignOnPushDeps } from '../../../functions/sign-on-push/core.ts';
import { type CallWrapper, wrapDependencyCalls } from '../../../functions/sign-on-push/dependency-calls.ts';
import { signOnPushDepsFromEnv } from '../../../functions/sign-on-push/from-env.ts';
import { FirestoreSigningStore } from '../../../functions/state/signing-records.ts';
import { pushSampleImage } from '../../helpers/push.ts';
import { signingRecords, waitForState } from '../../helpers/signatures.ts';
import { sleep, type TestStack, testStack, withSignOnPushHeldBack } from '../../helpers/stack.ts';

const never = <T>() => new Promise<T>(() => {});

/** Dependencies whose calls are counted; after `crashAfter` calls have taken effect, all hang. */
function dyingAfter(deps: SignOnPushDeps, crashAfter: number) {
  const trace: string[] = [];
  const dead = () => trace.length >= crashAfter;
  const step: CallWrapper =
    (name, fn) =>
    async (...args) => {
      if (dead()) return never();
      const result = await fn(...args);
      trace.push(name);
      // The call took effect; the process dies before it can use the answer.
      if (dead()) return never();
      return result;
    };
  return { deps: wrapDependencyCalls(deps, step), trace };
}

/**
 * Dependencies that fail at random (seeded): a call refused before it reaches the dependency, a
 * call whose effect landed but whose answer was lost, a slow answer. Every dependency at once.
 */
function faulty(deps: SignOnPushDeps, seed: number, rates: Record<string, number>) {
  let state = seed >>> 0;
  const random = () => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const injected: string[] = [];
  const step: CallWrapper =
    (name, fn) =>
    async (...args) => {
      const roll = random();
      const rate = rates[name.split('.')[0]!] ?? 0;
      if (roll < rate) {
        injected.push(`${name}: refused`);
        throw new DependencyError(name.split('.')[0]!, `injected: ${name} unavailable`);
      }
      if (roll < 2 * rate) {
        await fn(...args);
        injected.push(`${name}: answer lost`);
        throw new DependencyError(name.split('.')[0]!, `injected: ${name} timed out after taking effect`);
      }
      if (roll < 3 * rate) {
        injected.push(`${name}: slow`);
        await sleep(300);
      }
      return fn(...args);
    };
  return { deps: wrapDependencyCalls(deps, step), injected };
}

describe('signOnPush: a crash between any two steps ends in exactly one signature per format', () => {
  let stack: TestStack;
  let records: ReturnType<typeof signingRecords>;
  let registry: RegistryClient;
  const env = () => ({ ...process.env, ...stack.env });

  before(() => {
    stack = testStack();
    records = signingRecords(stack);
    registry = new RegistryClient({ allowedHosts: [stack.env.REGISTRY!] });
  });
  after(async () => {
    await records.db.terminate();
  });

  async function treeSize(): Promise<number> {
    const res = await fetch(`${stack.env.REKOR_URL}/api/v1/log`);
    return ((await res.json()) as { treeSize: number }).treeSize;
  }

  const pushImage = () => pushSampleImage(stack, 'crash');

  async function assertSignedOnce(
    pushed: Awaited<ReturnType<typeof pushImage>>,
    before: number,
    label: string,
  ) {
    const record = await waitForState(records, pushed.image, 'attached');
    assert.equal(
      (await readCosignSignatures(registry, pushed.ref)).length,
      1,
      `${label}: one cosign signature`,
    );
    assert.equal(
      (await listBundleReferrers(registry, pushed.ref)).descriptors.length,
      1,
      `${label}: one bundle referrer`,
    );
    assert.equal((await treeSize()) - before, 2, `${label}: one log entry per format`);
    return record;
  }

  test('after every step that took effect, the redelivery finishes the signing without a duplicate', async (t) => {
    await withSignOnPushHeldBack(stack, async () => {
      // A signing that never crashes: how many steps there are, and in what order.
      const clean = await pushImage();
      let before = await treeSize();
      const counted = dyingAfter(signOnPushDepsFromEnv(env()), Number.POSITIVE_INFINITY);
      assert.equal(
        (await createSignOnPush(counted.deps).sign(clean.notification, createMemoryLogger())).outcome,
        'signed',
      );
      await assertSignedOnce(clean, before, 'no crash');
      const steps = counted.trace;
      assert.ok(
        steps.includes('log.testify') && steps.includes('kms.sign') && steps.includes('registry.putManifest'),
      );
      // Before the record is claimed: the pushed digest read, the key's algorithm checked, and the
      // message's tag resolved (its claim is signed only if it names the digest), a step of its own
      // that a crash may follow like any other.
      assert.deepEqual(steps.slice(0, 4), [
        'registry.getManifest',
        'kms.publicKey',
        'registry.resolve',
        'store.claim',
      ]);

      t.diagnostic(`${steps.length} steps: ${steps.join(', ')}`);
      for (let n = 1; n < steps.length; n++) {
        const label = `crash after step ${n} (${steps[n - 1]}, before ${steps[n]})`;
        const pushed = await pushImage();
        before = await treeSize();
        const dying = dyingAfter(signOnPushDepsFromEnv(env()), n);
        void createSignOnPush(dying.deps).sign(pushed.notification, createMemoryLogger());
        const deadline = Date.now() + 20_000;
        while (dying.trace.length < n && Date.now() < deadline) await sleep(20);
        assert.equal(dying.trace.length, n, `${label}: the first attempt reached the crash point`);

        // Another instance, after the dead attempt's lease ran out.
        const later = () => Date.now() + 3_600_000;
        const deps = signOnPushDepsFromEnv(env());
        const redelivery = createSignOnPush({
          ...deps,
          store: new FirestoreSigningStore(records.db, later),
          // The dead attempt's attach lease too has run out by this clock (a killed process stops
          // renewing it; this one only hangs).
          lock: new NestedSubjectLock(
            new InProcessSubjectLock(),
            new FirestoreSubjectLock(records.db, { now: later }),
          ),
          now: () => new Date(later()),
        });
        const result = await redelivery.sign(pushed.notification, createMemoryLogger());
        assert.ok(['signed', 'already-signed'].includes(result.outcome), `${label}: ${result.outcome}`);
        const record = await assertSignedOnce(pushed, before, label);
        assert.ok(record.attempts <= 2, `${label}: ${record.attempts} attempts`);
      }
    });
  });

  test('every dependency failing, losing answers and slow at once: each image ends signed once, in bounded attempts', async (t) => {
    await withSignOnPushHeldBack(stack, async () => {
      const seen = new Set<string>();
      for (const seed of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) {
        const pushed = await pushImage();
        const before = await treeSize();
        let attempts = 0;
        let faults: string[] = [];
        for (;;) {
          attempts++;
          // Each redelivery is another instance whose clock is past any lease a failed attempt left.
          const later = () => Date.now() + attempts * 3_600_000;
          const base = signOnPushDepsFromEnv(env());
          base.config.maxAttempts = 30;
          const { deps, injected } = faulty(
            { ...base, store: new FirestoreSigningStore(records.db, later), now: () => new Date(later()) },
            seed * 7919 + attempts,
            // KMS and the log see two or three calls a signing, the registry and Firestore a dozen.
            { registry: 0.03, store: 0.04, kms: 0.12, log: 0.12 },
          );
          try {
            const result = await createSignOnPush(deps).sign(pushed.notification, createMemoryLogger());
            assert.ok(['signed', 'already-signed'].includes(result.outcome));
            faults = [...faults, ...injected];
            break;
          } catch (err) {
            faults = [...faults, ...injected];
            assert.ok(isRetryable(err), `seed ${seed}: a retryable error, not ${String(err)}`);
            assert.ok(attempts < 30, `seed ${seed}: bounded`);
          }
        }
        t.diagnostic(`seed ${seed}: ${attempts} deliveries, faults: ${faults.join('; ') || 'none'}`);
        await assertSignedOnce(pushed, before, `seed ${seed}`);
        for (const f of faults) seen.add(`${f.split('.')[0]}: ${f.split(': ')[1]}`);
      }
      // The seeds reach every dependency with each kind of failure that has an effect to lose.
      for (const dependency of ['store', 'kms', 'log', 'registry']) {
        assert.ok(
          seen.has(`${dependency}: refused`),
          `${dependency} refused a call: ${[...seen].join(', ')}`,
        );
      }
      for (const dependency of ['store', 'log', 'registry']) {
        assert.ok(
          seen.has(`${dependency}: answer lost`),
          `${dependency} lost an answer: ${[...seen].join(', ')}`,
        );
      }
    });
  });
});
