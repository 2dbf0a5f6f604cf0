/**
 * A push whose deliveries keep failing before its signing record can be claimed (the registry or
 * Firestore down, KMS denying the key's public key, for the whole retry window) is alerted by
 * sigsentry, not only by infra's dead-letter policy: once Pub/Sub's `deliveryAttempt` reaches the
 * rule's `maxAttempts` (below max_delivery_attempts, so before the message is dead-lettered), one
 * `signing-failed` alert names the image the message names and the error; the deliveries after it
 * repeat that alert (one page), and every delivery still fails as it did, so Pub/Sub redelivers and
 * dead-letters it as before; a delivery handled once the outage is over resolves it. Without a count
 * (no dead-letter policy) nothing changes, and a failure after a claim is left to the record's own
 * bound and alert. Before, such a push reached the
 * dead-letter topic with no alert naming it.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import type { AlertInput, AlertSink } from '../../../functions/alerts/alert.ts';
import { FanOutAlertSink } from '../../../functions/alerts/fanout.ts';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { readCosignSignatures } from '../../../functions/attach/cosign-layout.ts';
import { InProcessSubjectLock } from '../../../functions/attach/lock.ts';
import type { SignOnPushConfig } from '../../../functions/config/sign-config.ts';
import { DependencyError, isRetryable } from '../../../functions/errors.ts';
import { parsePubsubCloudEvent } from '../../../functions/events/pubsub-cloud-event.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import type { Registry } from '../../../functions/registry/registry.ts';
import { createSignOnPush, type KeyedSigner } from '../../../functions/sign-on-push/core.ts';
import { createSignOnPushEntry } from '../../../functions/sign-on-push/entry.ts';
import { kmsError } from '../../../functions/signing/kms-signer.ts';
import { LocalSigner } from '../../../functions/signing/local-signer.ts';
import type { ClaimOptions, ClaimOutcome } from '../../../functions/state/signing-records.ts';
import { RecordingNotifier } from '../../helpers/recording-notifier.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { gcrEvent, MemorySigningStore, TEST_KEY_VERSION } from '../../helpers/sign-on-push-core.ts';

let reg: TestRegistry;
let client: RegistryClient;
before(async () => {
  reg = await startRegistry();
  client = new RegistryClient({ allowedHosts: [reg.host] });
});
after(async () => {
  await reg.stop();
});

const MAX_ATTEMPTS = 3;

/** What is broken, by the dependency an outage or a denial hits first. */
interface Faults {
  /** The registry down: every read of the push fails. */
  registry?: Error;
  /** Firestore down: the claim of the signing record fails. */
  claim?: Error;
  /** KMS denying the key version's public key (read before any record is claimed). */
  publicKey?: Error;
  /** The registry refusing writes for now: the attach, after the claim, fails. */
  putManifest?: Error;
}

/** Signing records in memory whose claim fails while `faults.claim` is set. */
class FaultySigningStore extends MemorySigningStore {
  readonly faults: Faults;
  constructor(faults: Faults) {
    super();
    this.faults = faults;
  }
  override async claim(id: { image: string; keyVersion: string }, owner: string, opts: ClaimOptions) {
    if (this.faults.claim) throw this.faults.claim;
    return super.claim(id, owner, opts) as Promise<ClaimOutcome>;
  }
}

/** The registry client; reads fail with `faults.registry`, manifest writes with `faults.putManifest`. */
function faultyRegistry(faults: Faults): Registry {
  return new Proxy(client, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        if (faults.registry && ['resolve', 'getManifest', 'referrers'].includes(String(property))) {
          throw faults.registry;
        }
        if (faults.putManifest && property === 'putManifest') throw faults.putManifest;
        return value.apply(target, args);
      };
    },
  });
}

/** KMS's PERMISSION_DENIED on GetPublicKey, as the KMS signer turns it into an error. */
const publicKeyDenied = () =>
  kmsError(
    Object.assign(new Error(`${status.PERMISSION_DENIED} PERMISSION_DENIED: denied`), {
      code: status.PERMISSION_DENIED,
      details: `Permission 'cloudkms.cryptoKeyVersions.viewPublicKey' denied on resource '${TEST_KEY_VERSION}' (or it may not exist).`,
    }),
    TEST_KEY_VERSION,
    'GetPublicKey',
  );

/**
 * The function's core and entry, watching `${reg.host}/team/**` with `maxAttempts` 3, over the
 * faults given; alerts go through the fan-out sink (a record in memory, a channel that pages).
 */
function signOnPush(faults: Faults, alerts?: AlertSink) {
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const local = new LocalSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  const signer: KeyedSigner = {
    sign: (data) => local.sign(data),
    signatureKey: async () => {
      if (faults.publicKey) throw faults.publicKey;
      return { $case: 'publicKey', publicKey: local.publicKeyPem, hint: local.hint };
    },
  };
  const config: SignOnPushConfig = {
    project: 'p',
    watch: [
      {
        repositories: `${reg.host}/team/**`,
        key: TEST_KEY_VERSION,
        formats: ['cosign'],
        signPlatformManifests: false,
      },
    ],
    log: { kind: 'none' },
    annotations: {},
    maxAttempts: MAX_ATTEMPTS,
  };
  const record = new MemoryAlertSink();
  const pages = new RecordingNotifier('pubsub');
  const store = new FaultySigningStore(faults);
  const logger = createMemoryLogger();
  const core = createSignOnPush({
    config,
    registry: faultyRegistry(faults),
    store,
    signerFor: () => signer,
    witness: undefined,
    lock: new InProcessSubjectLock(),
    alerts: alerts ?? new FanOutAlertSink({ recorder: record, notifiers: [pages] }),
    instanceId: 'unit',
  });
  const entry = createSignOnPushEntry({ logger, core });
  /**
   * A delivery of `message` whose push body says `deliveryAttempt: attempt` (no such field when
   * undefined, as without a dead-letter policy): the error Pub/Sub sees, or undefined once it is
   * acknowledged.
   */
  const deliver = (message: object, attempt: unknown, publishTime?: Date) => {
    const event = gcrEvent(message, 'm1', publishTime);
    const data = attempt === undefined ? event.data : { ...event.data, deliveryAttempt: attempt };
    return entry({ ...event, data }).then(
      () => undefined,
      (err: unknown) => err,
    );
  };
  return { deliver, store, record, pages, logger };
}

let images = 0;

/** An image pushed to team/NAME:v1; the `gcr` message of its push names it by digest and tag. */
async function pushed() {
  const name = `before-claim-${++images}`;
  const image = await reg.pushImage(`team/${name}`, 'v1', name);
  const digestRef = `${reg.host}/team/${name}@${image.digest}`;
  return {
    ref: { host: reg.host, repository: `team/${name}`, digest: image.digest },
    digestRef,
    message: { action: 'INSERT', digest: digestRef, tag: `${reg.host}/team/${name}:v1` },
  };
}

const CAUSES: Array<{ what: string; faults: () => Faults; code: string }> = [
  {
    what: 'the registry down',
    faults: () => ({ registry: new DependencyError('registry', 'injected: registry answered 503') }),
    code: 'DEPENDENCY_FAILED',
  },
  {
    what: 'Firestore down (the claim fails)',
    faults: () => ({ claim: new DependencyError('firestore', 'injected: Firestore UNAVAILABLE') }),
    code: 'DEPENDENCY_FAILED',
  },
  {
    what: "KMS denying the key's public key",
    faults: () => ({ publicKey: publicKeyDenied() }),
    code: 'KMS_PERMISSION_DENIED',
  },
];

describe('a push failing before its signing record is claimed, counted by Pub/Sub', () => {
  for (const cause of CAUSES) {
    test(`${cause.what}: one signing-failed alert from the delivery maxAttempts names, still redelivered`, async () => {
      const faults = cause.faults();
      const { deliver, store, record, pages } = signOnPush(faults);
      const { ref, digestRef, message } = await pushed();

      for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) {
        const err = await deliver(message, attempt);
        assert.ok(err instanceof Error && isRetryable(err), `delivery ${attempt} fails retryably`);
        assert.equal(record.raised.length, 0, `no alert on delivery ${attempt}`);
      }
      for (let attempt = MAX_ATTEMPTS; attempt <= MAX_ATTEMPTS + 2; attempt++) {
        const err = await deliver(message, attempt);
        assert.ok(err instanceof Error && isRetryable(err), `delivery ${attempt} still fails: redelivered`);
        assert.equal((err as { code?: string }).code, cause.code, 'with its own error');
      }

      assert.equal(record.raised.length, 3, 'raised on each delivery from maxAttempts on');
      const [alert] = record.alerts.values();
      assert.ok(alert);
      assert.equal(record.alerts.size, 1, 'one incident');
      assert.equal(alert.count, 3);
      assert.equal(alert.kind, 'signing-failed');
      assert.equal(alert.severity, 'HIGH');
      assert.equal(alert.subject, digestRef, 'it names the image the message names');
      assert.equal(alert.key, `signing-failed:${digestRef}:before-claim`);
      assert.ok(alert.summary.includes(digestRef));
      assert.match(alert.summary, /before its signing record could be claimed/);
      assert.equal(alert.evidence['messageId'], 'm1');
      assert.equal(alert.evidence['deliveryAttempt'], MAX_ATTEMPTS + 2);
      const lastError = alert.evidence['lastError'] as { code?: string; message?: string };
      assert.equal(lastError.code, cause.code, 'the error, as a record keeps it');
      assert.ok(lastError.message);
      assert.deepEqual(
        pages.seen.map((s) => s.status),
        ['new'],
        'paged once: the later deliveries are repeats',
      );
      assert.deepEqual(store.records.size, 0, 'no record was claimed');

      // The cause mended before Pub/Sub gives up: the next delivery signs the image as before.
      for (const key of Object.keys(faults)) delete faults[key as keyof Faults];
      assert.equal(await deliver(message, MAX_ATTEMPTS + 3), undefined, 'acknowledged');
      assert.equal((await readCosignSignatures(client, ref)).length, 1, 'signed');
      const resolved = record.alerts.get(`signing-failed:${digestRef}:before-claim`);
      assert.equal(resolved?.state, 'resolved', 'and the incident is over');
      assert.deepEqual(pages.resolvedSeen, [resolved?.key], 'told once');
    });
  }

  test('without a delivery count (no dead-letter policy): never alerted, redelivered as before', async () => {
    const { deliver, record } = signOnPush({
      registry: new DependencyError('registry', 'injected: registry answered 503'),
    });
    const { message } = await pushed();
    for (let delivery = 1; delivery <= MAX_ATTEMPTS + 3; delivery++) {
      const err = await deliver(message, undefined);
      assert.ok(err instanceof DependencyError, `delivery ${delivery} fails retryably`);
    }
    assert.deepEqual(record.raised, []);
  });

  test('without a delivery count, a push failing so 30 minutes after it was published: alerted once, resolved once signed', async () => {
    // Eventarc's event may not carry deliveryAttempt: the message's age bounds the silence instead
    // (found by review: KMS denying the key's public key for good was never alerted by sigsentry).
    const faults: Faults = { publicKey: publicKeyDenied() };
    const { deliver, record, pages } = signOnPush(faults);
    const { digestRef, message } = await pushed();
    const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000);
    for (const age of [0, 10, 29]) {
      assert.ok(
        isRetryable(await deliver(message, undefined, minutesAgo(age))),
        `${age} minutes: redelivered`,
      );
    }
    assert.deepEqual(record.raised, [], 'not before 30 minutes');
    for (const age of [31, 45]) {
      const err = await deliver(message, undefined, minutesAgo(age));
      assert.equal((err as { code?: string }).code, 'KMS_PERMISSION_DENIED', `${age} minutes: its own error`);
    }
    const alert = record.alerts.get(`signing-failed:${digestRef}:before-claim`);
    assert.equal(alert?.count, 2);
    assert.match(alert?.summary ?? '', /published \d+ minutes ago/);
    assert.deepEqual(
      pages.seen.map((seen) => seen.status),
      ['new'],
      'paged once',
    );
    delete faults.publicKey;
    assert.equal(
      await deliver(message, undefined, minutesAgo(50)),
      undefined,
      'acknowledged once the grant is there',
    );
    assert.equal(record.alerts.get(`signing-failed:${digestRef}:before-claim`)?.state, 'resolved');
  });

  test('the alert is resolved by the delivery that signs the image: a message published again after the dead letter, or a push naming it otherwise', async () => {
    // Found by review: only a delivery itself past the bound resolved it, so the replay infra's
    // README gives (a new message, its count and age starting again) left it open for good.
    const faults: Faults = { publicKey: publicKeyDenied() };
    const { deliver, record } = signOnPush(faults);
    const { digestRef, message } = await pushed();
    for (let attempt = MAX_ATTEMPTS; attempt <= MAX_ATTEMPTS + 1; attempt++) await deliver(message, attempt);
    assert.equal(record.alerts.get(`signing-failed:${digestRef}:before-claim`)?.state, 'open');
    delete faults.publicKey;
    assert.equal(await deliver(message, undefined), undefined, 'the message published again: signed');
    assert.equal(record.alerts.get(`signing-failed:${digestRef}:before-claim`)?.state, 'resolved');

    // A tag-only push is alerted under its tag; a push naming the digest and the tag that signs the
    // image resolves that one too.
    const denied: Faults = { publicKey: publicKeyDenied() };
    const second = signOnPush(denied);
    const other = await pushed();
    const tagOnly = { action: 'INSERT', tag: other.message.tag };
    for (let attempt = MAX_ATTEMPTS; attempt <= MAX_ATTEMPTS + 1; attempt++)
      await second.deliver(tagOnly, attempt);
    const tagKey = `signing-failed:${other.message.tag}:before-claim`;
    assert.equal(second.record.alerts.get(tagKey)?.state, 'open');
    delete denied.publicKey;
    assert.equal(await second.deliver(other.message, 1), undefined, 'signed');
    assert.equal(second.record.alerts.get(tagKey)?.state, 'resolved');
  });

  test('one registry failure on a message 40 minutes late (a backlog, a replay) pages nobody: the age counts only for a KMS denial', async () => {
    // Found by review: the message's age says nothing of how long the push has been failing.
    const faults: Faults = {};
    const { deliver, record } = signOnPush(faults);
    const { message } = await pushed();
    assert.equal(await deliver(message, undefined), undefined, 'signed');
    faults.registry = new DependencyError('registry', 'injected: registry answered 503');
    const late = new Date(Date.now() - 40 * 60_000);
    assert.ok(isRetryable(await deliver(message, undefined, late)), 'redelivered');
    assert.deepEqual(record.raised, []);
  });

  test("a failure after the claim is the record's: its one alert when its attempts run out, no other", async () => {
    const { deliver, store, record, pages } = signOnPush({
      putManifest: new DependencyError('registry', 'injected: registry answered 503 to the write'),
    });
    const { digestRef, message } = await pushed();
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const err = await deliver(message, attempt + 5); // counted past maxAttempts from the start
      assert.ok(err instanceof DependencyError, `attempt ${attempt}: ${String(err)}`);
    }
    assert.equal(store.records.get(digestRef)?.attempts, MAX_ATTEMPTS, 'each delivery counted on the record');
    assert.equal(record.raised.length, 0, 'no alert while the record has attempts left');
    assert.equal(await deliver(message, MAX_ATTEMPTS + 6), undefined, 'given up: acknowledged');
    assert.deepEqual(
      record.raised.map((a) => [a.kind, a.key]),
      [['signing-failed', undefined]],
      "the record's own alert (SigningExhaustedError), once",
    );
    assert.match(record.raised[0]!.summary, /gave up signing/);
    assert.equal(pages.seen.length, 1);
  });

  test('an alert that cannot be raised leaves the delivery failing with its own error, and says so', async () => {
    const raises: AlertInput[] = [];
    const downSink: AlertSink = {
      raise: async (a) => {
        raises.push(a);
        throw new DependencyError('firestore', 'injected: alert record unavailable');
      },
      resolve: async () => {},
    };
    const { deliver, logger } = signOnPush(
      { claim: new DependencyError('firestore', 'injected: Firestore UNAVAILABLE') },
      downSink,
    );
    const { message } = await pushed();
    const err = await deliver(message, MAX_ATTEMPTS);
    assert.ok(err instanceof DependencyError);
    assert.match(err.message, /Firestore UNAVAILABLE/, "the signing's error, not the alert's");
    assert.equal(raises.length, 1, 'the raise was tried');
    assert.ok(
      logger.entries.some((e) => e.severity === 'WARNING' && /before-claim alert/.test(e.message)),
      'a WARNING says the alert could not be raised',
    );
  });
});

describe("the push body's deliveryAttempt", () => {
  const withAttempt = (deliveryAttempt: unknown) => {
    const event = gcrEvent({ action: 'INSERT' });
    return { ...event, data: { ...event.data, deliveryAttempt } };
  };

  test('is read when it is a count; anything else is ignored, never a reason to refuse the message', () => {
    assert.equal(parsePubsubCloudEvent(withAttempt(7)).deliveryAttempt, 7);
    for (const odd of [0, -1, 1.5, '7', null, {}, Number.MAX_VALUE]) {
      assert.equal(parsePubsubCloudEvent(withAttempt(odd)).deliveryAttempt, undefined, JSON.stringify(odd));
    }
    assert.equal(parsePubsubCloudEvent(gcrEvent({ action: 'INSERT' })).deliveryAttempt, undefined, 'absent');
  });

  test('a malformed count neither stops the push being signed nor alerts', async () => {
    const { deliver, record } = signOnPush({ registry: new DependencyError('registry', 'injected: 503') });
    const { ref, message } = await pushed();
    for (const odd of ['9', 99.5, -4]) {
      assert.ok((await deliver(message, odd)) instanceof DependencyError, 'redelivered as before');
    }
    assert.deepEqual(record.raised, [], 'not taken for a count');
    const healthy = signOnPush({});
    assert.equal(await healthy.deliver(message, 'nine'), undefined, 'acknowledged');
    assert.equal((await readCosignSignatures(client, ref)).length, 1, 'signed');
  });
});
