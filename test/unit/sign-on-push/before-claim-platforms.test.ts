/**
 * A multi-arch index whose rule signs its platform manifests is several signings in one delivery,
 * each with a signing record of its own: a failure before the claim of ONE of them (Firestore failing
 * that claim) is alerted once Pub/Sub's count reaches `maxAttempts`, under the image whose record
 * could not be claimed, even though another record was claimed earlier in the same delivery; a
 * failure after that image's own claim stays its record's to count. A later delivery that signs it
 * resolves that incident. Before (found by review), the delivery's first claim (a platform signed
 * before the index) hid every later failure before a claim: the platform (or the index) stayed
 * unsigned, no record counted its deliveries, and nothing named it before the dead letter.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DependencyError, isRetryable } from '../../../functions/errors.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import type { Registry } from '../../../functions/registry/registry.ts';
import type { ClaimOptions, ClaimOutcome } from '../../../functions/state/signing-records.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { gcrEvent, MemorySigningStore, signOnPushCore } from '../../helpers/sign-on-push-core.ts';

let reg: TestRegistry;
let client: RegistryClient;
before(async () => {
  reg = await startRegistry();
  client = new RegistryClient({ allowedHosts: [reg.host] });
});
after(() => reg.stop());

const MAX_ATTEMPTS = 3;

/** Signing records in memory whose claim of an image in `failing` fails as Firestore down would. */
class FailingClaims extends MemorySigningStore {
  readonly failing = new Set<string>();
  override async claim(id: { image: string; keyVersion: string }, owner: string, opts: ClaimOptions) {
    if (this.failing.has(id.image)) throw new DependencyError('firestore', 'injected: Firestore UNAVAILABLE');
    return super.claim(id, owner, opts) as Promise<ClaimOutcome>;
  }
}

/** The registry client, whose manifest writes fail while `failing.put` is set. */
function failingWrites(failing: { put: boolean }): Registry {
  return new Proxy(client, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      if (property !== 'putManifest') return value.bind(target);
      return async (...args: unknown[]) => {
        if (failing.put)
          throw new DependencyError('registry', 'injected: registry answered 503 to the write');
        return value.apply(target, args);
      };
    },
  });
}

let pushes = 0;

/** A two-platform index pushed to team/NAME:v1, and a core signing its platform manifests. */
async function indexPush(failing = { put: false }) {
  const name = `platforms-${++pushes}`;
  const index = await reg.pushIndex(`team/${name}`, 'v1');
  const ref = (digest: string) => `${reg.host}/team/${name}@${digest}`;
  const store = new FailingClaims();
  const h = signOnPushCore(failingWrites(failing), reg.host, {
    store,
    signPlatformManifests: true,
    maxAttempts: MAX_ATTEMPTS,
  });
  const message = { action: 'INSERT', digest: ref(index.digest), tag: `${reg.host}/team/${name}:v1` };
  /** A delivery counted `attempt` by Pub/Sub (none when undefined): its error, or undefined. */
  const deliver = (attempt: number | undefined) => {
    const event = gcrEvent(message);
    const data = attempt === undefined ? event.data : { ...event.data, deliveryAttempt: attempt };
    return h.entry({ ...event, data }).then(
      () => undefined,
      (err: unknown) => err,
    );
  };
  const [amd64, arm64] = index.platforms.map((p) => ref(p.digest)) as [string, string];
  return { h, store, deliver, index: ref(index.digest), amd64, arm64 };
}

const beforeClaimAlerts = (raised: ReadonlyArray<{ key?: string }>) =>
  raised.map((a) => a.key).filter((key) => key?.endsWith(':before-claim'));

describe('an index signing its platform manifests, failing before one of its claims', () => {
  test('a later platform whose claim fails is alerted under its own name, though an earlier one was claimed; a later delivery resolves it', async () => {
    const { h, store, deliver, index, amd64, arm64 } = await indexPush();
    store.failing.add(arm64);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS + 1; attempt++) {
      const err = await deliver(attempt);
      assert.ok(isRetryable(err), `delivery ${attempt} fails retryably: redelivered`);
    }
    assert.equal(store.records.get(amd64)?.state, 'attached', 'the first platform was claimed and signed');
    assert.equal(store.records.get(arm64), undefined, 'nothing claims the second');
    const key = `signing-failed:${arm64}:before-claim`;
    assert.deepEqual(
      beforeClaimAlerts(h.raised),
      [key, key],
      'raised by the deliveries from maxAttempts on, naming the platform',
    );
    const alert = h.raised.find((a) => a.key === key)!;
    assert.equal(alert.kind, 'signing-failed');
    assert.equal(alert.severity, 'HIGH');
    assert.equal(alert.subject, arm64);
    assert.match(alert.summary, /before its signing record could be claimed/);
    assert.ok(alert.summary.includes(`the push of ${index}`), 'it names the index whose push listed it');
    assert.equal(alert.evidence['index'], index);
    assert.equal((alert.evidence['lastError'] as { code?: string }).code, 'DEPENDENCY_FAILED');

    store.failing.clear();
    assert.equal(await deliver(MAX_ATTEMPTS + 2), undefined, 'the outage over: acknowledged');
    assert.equal(store.records.get(arm64)?.state, 'attached', 'signed');
    assert.ok(h.resolved.includes(key), "the platform's incident is resolved");
  });

  test('a platform alerted so is resolved by the message published again (a new count) that signs it', async () => {
    const { h, store, deliver, arm64 } = await indexPush();
    store.failing.add(arm64);
    await deliver(MAX_ATTEMPTS);
    const key = `signing-failed:${arm64}:before-claim`;
    assert.deepEqual(beforeClaimAlerts(h.raised), [key]);
    store.failing.clear();
    assert.equal(await deliver(undefined), undefined, 'signed');
    assert.ok(h.resolved.includes(key));
  });

  test("a platform signed by a delivery that then fails (the index's own claim) has its incident resolved by that delivery", async () => {
    const { h, store, deliver, index, arm64 } = await indexPush();
    store.failing.add(arm64);
    await deliver(MAX_ATTEMPTS);
    const key = `signing-failed:${arm64}:before-claim`;
    assert.deepEqual(beforeClaimAlerts(h.raised), [key]);
    // The last delivery signs the platform, then fails at the index's claim.
    store.failing.clear();
    store.failing.add(index);
    assert.ok(isRetryable(await deliver(MAX_ATTEMPTS + 1)), 'redelivered');
    assert.equal(store.records.get(arm64)?.state, 'attached', 'the platform is signed');
    assert.ok(h.resolved.includes(key), 'its incident is resolved though the delivery failed after it');
    // A message published again then finds the platform already signed, not past any bound: were the
    // incident still open, nothing would resolve it.
    store.failing.clear();
    assert.equal(await deliver(undefined), undefined, 'the index is signed');
  });

  test('the index whose own claim fails after its platforms were signed is alerted under the name its message gives', async () => {
    const { h, store, deliver, index, amd64, arm64 } = await indexPush();
    store.failing.add(index);
    for (let attempt = MAX_ATTEMPTS; attempt <= MAX_ATTEMPTS + 1; attempt++) {
      assert.ok(isRetryable(await deliver(attempt)), 'redelivered');
    }
    assert.equal(store.records.get(amd64)?.state, 'attached');
    assert.equal(store.records.get(arm64)?.state, 'attached');
    const key = `signing-failed:${index}:before-claim`;
    assert.deepEqual(beforeClaimAlerts(h.raised), [key, key]);
    store.failing.clear();
    assert.equal(await deliver(MAX_ATTEMPTS + 2), undefined);
    assert.ok(h.resolved.includes(key));
  });

  test("a platform failing after its claim is its record's to count: no before-claim alert", async () => {
    const failing = { put: true };
    const { h, store, deliver, amd64 } = await indexPush(failing);
    for (let attempt = MAX_ATTEMPTS; attempt <= MAX_ATTEMPTS + 1; attempt++) {
      assert.ok(isRetryable(await deliver(attempt)), 'redelivered');
    }
    assert.equal(store.records.get(amd64)?.attempts, 2, 'each delivery counted on its record');
    assert.deepEqual(beforeClaimAlerts(h.raised), []);
  });
});
