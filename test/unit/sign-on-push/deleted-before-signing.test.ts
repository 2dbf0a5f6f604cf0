/**
 * Pub/Sub does not order messages, and Artifact Registry publishes a DELETE on `gcr` when an image
 * or tag is deleted. A push handled after its image was deleted (a cleanup policy, a CI scratch
 * image, a backlog) used to raise a HIGH `signing-refused` alert ("is not in the registry") that
 * paged for nothing. signOnPush now records each DELETE of a watched repository, and a push the
 * registry answers 404 for is acknowledged with a NOTICE when a deletion recorded after it explains
 * it; a 404 nothing explains is still refused with the alert.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Firestore } from '@google-cloud/firestore';
import type { AlertInput } from '../../../functions/alerts/alert.ts';
import { InProcessSubjectLock } from '../../../functions/attach/lock.ts';
import type { SignOnPushConfig } from '../../../functions/config/sign-config.ts';
import { DependencyError, isRetryable } from '../../../functions/errors.ts';
import { toNotification } from '../../../functions/events/gcr-message.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryNotFoundError } from '../../../functions/registry/errors.ts';
import type { Registry } from '../../../functions/registry/registry.ts';
import { createSignOnPush } from '../../../functions/sign-on-push/core.ts';
import { createSignOnPushEntry } from '../../../functions/sign-on-push/entry.ts';
import {
  DELETION_TTL_MS,
  type DeletionStore,
  FirestoreDeletionStore,
} from '../../../functions/state/deletion-records.ts';
import { MemoryDeletionStore } from '../../../functions/state/memory-deletion-records.ts';
import type { SigningStore } from '../../../functions/state/signing-records.ts';
import { gcrEvent, TEST_KEY_VERSION } from '../../helpers/sign-on-push-core.ts';

const REPO = 'europe-west1-docker.pkg.dev/p/releases/app';
const D = `sha256:${'a'.repeat(64)}`;
const OTHER = `sha256:${'b'.repeat(64)}`;
const DIGEST_REF = `${REPO}@${D}`;
const TAG_REF = `${REPO}:ci-1234`;
const PUSHED = new Date('2026-12-04T10:00:00.000Z');
const DELETED = new Date('2026-12-04T10:00:02.000Z');

/** A dependency that records each call and throws: none of them may be used. */
function forbidden<T extends object>(calls: string[], name: string): T {
  return new Proxy({} as T, {
    get: (_t, method) => () => {
      calls.push(`${name}.${String(method)}`);
      throw new Error(`${name}.${String(method)} must not be called`);
    },
  });
}

/**
 * A registry that has nothing (every read answers 404), or only the tag `resolves` when given (its
 * manifest gone since).
 */
function emptyRegistry(calls: string[], resolves?: string): Registry {
  const others = forbidden<Registry>(calls, 'registry');
  return new Proxy(others, {
    get: (target, method) => {
      if (method === 'getManifest' || method === 'resolve') {
        return async () => {
          calls.push(`registry.${method}`);
          if (method === 'resolve' && resolves) return { digest: resolves, mediaType: 'x', size: 1 };
          throw new RegistryNotFoundError('manifest unknown');
        };
      }
      return Reflect.get(target, method);
    },
  });
}

function harness(opts: { deletions?: DeletionStore; resolves?: string; waitMs?: number } = {}) {
  const calls: string[] = [];
  const raised: AlertInput[] = [];
  const deletions = opts.deletions ?? new MemoryDeletionStore();
  const config = {
    project: 'p',
    watch: [
      {
        repositories: 'europe-west1-docker.pkg.dev/p/releases/**',
        key: TEST_KEY_VERSION,
        formats: ['cosign', 'bundle'],
        signPlatformManifests: false,
      },
    ],
    log: { kind: 'none' },
    annotations: {},
    maxAttempts: 10,
  } as SignOnPushConfig;
  const core = createSignOnPush({
    config,
    registry: emptyRegistry(calls, opts.resolves),
    store: forbidden<SigningStore>(calls, 'store'),
    signerFor: (key) => {
      calls.push(`signerFor(${key})`);
      throw new Error('signerFor must not be called');
    },
    witness: undefined,
    lock: new InProcessSubjectLock(),
    alerts: { raise: async (a) => void raised.push(a), resolve: async () => {} },
    deletions,
    deletionWaitMs: opts.waitMs ?? 20,
    instanceId: 'unit',
  });
  const logger = createMemoryLogger();
  const entry = createSignOnPushEntry({ logger, core });
  return { calls, raised, logger, entry, core, deletions };
}

const notices = (logger: ReturnType<typeof createMemoryLogger>) =>
  logger.entries.filter((e) => e.severity === 'NOTICE');

/** Asserts the push was acknowledged as deleted: one NOTICE, no alert, no line above it, nothing signed. */
function assertDeletedBeforeSigning(
  h: ReturnType<typeof harness>,
  expected: { image: string; deleted: string; deletionPublishedAt: string },
) {
  assert.deepEqual(h.raised, [], 'no alert');
  const lines = notices(h.logger);
  assert.equal(lines.length, 1, JSON.stringify(h.logger.entries));
  assert.equal(lines[0]!.message, 'image deleted before it could be signed');
  assert.equal(lines[0]!['image'], expected.image);
  assert.equal(lines[0]!['deleted'], expected.deleted);
  assert.equal(lines[0]!['deletionPublishedAt'], expected.deletionPublishedAt);
  assert.equal(lines[0]!['pushPublishedAt'], PUSHED.toISOString());
  assert.deepEqual(
    h.logger.entries.filter((e) => ['WARNING', 'ERROR', 'ALERT'].includes(e.severity)),
    [],
    'nothing above NOTICE',
  );
  // Read before a record is claimed: no signing record touched (claimed or leased), no key asked.
  assert.ok(!h.calls.some((c) => c.startsWith('store.') || c.startsWith('signerFor')), h.calls.join('\n'));
}

describe('signOnPush: a push handled after its image was deleted', () => {
  it('of a digest: acknowledged with a NOTICE naming the digest and the deletion, no alert, nothing signed', async () => {
    const h = harness();
    await h.entry(gcrEvent({ action: 'DELETE', digest: DIGEST_REF }, 'del', DELETED));
    await h.entry(gcrEvent({ action: 'INSERT', digest: DIGEST_REF, tag: TAG_REF }, 'push', PUSHED));
    assertDeletedBeforeSigning(h, {
      image: DIGEST_REF,
      deleted: DIGEST_REF,
      deletionPublishedAt: DELETED.toISOString(),
    });
    assert.deepEqual(h.calls, ['registry.getManifest']);
  });

  it('of a tag (a tag-only push whose tag was deleted): acknowledged the same way', async () => {
    const h = harness();
    await h.entry(gcrEvent({ action: 'DELETE', tag: TAG_REF }, 'del', DELETED));
    await h.entry(gcrEvent({ action: 'INSERT', tag: TAG_REF }, 'push', PUSHED));
    assertDeletedBeforeSigning(h, {
      image: TAG_REF,
      deleted: TAG_REF,
      deletionPublishedAt: DELETED.toISOString(),
    });
    assert.deepEqual(h.calls, ['registry.resolve']);
  });

  it('of a tag whose digest was deleted after the tag was read: the digest deletion explains it', async () => {
    const h = harness({ resolves: D });
    await h.entry(gcrEvent({ action: 'DELETE', digest: DIGEST_REF }, 'del', DELETED));
    await h.entry(gcrEvent({ action: 'INSERT', tag: TAG_REF }, 'push', PUSHED));
    assertDeletedBeforeSigning(h, {
      image: TAG_REF,
      deleted: DIGEST_REF,
      deletionPublishedAt: DELETED.toISOString(),
    });
  });

  it('whose DELETE is handled while the push waits for it: acknowledged, no alert', async () => {
    const h = harness({ waitMs: 300 });
    const push = h.entry(gcrEvent({ action: 'INSERT', digest: DIGEST_REF }, 'push', PUSHED));
    await new Promise((resolve) => setTimeout(resolve, 30));
    await h.entry(gcrEvent({ action: 'DELETE', digest: DIGEST_REF }, 'del', DELETED));
    await push;
    assertDeletedBeforeSigning(h, {
      image: DIGEST_REF,
      deleted: DIGEST_REF,
      deletionPublishedAt: DELETED.toISOString(),
    });
  });

  it('asked for by an operator (`sigsentry sign`, no publish time): skipped, the deletion as the reason', async () => {
    const h = harness();
    await h.entry(gcrEvent({ action: 'DELETE', digest: DIGEST_REF }, 'del', DELETED));
    const outcome = await h.core.sign(
      toNotification({ action: 'INSERT', digest: DIGEST_REF }),
      createMemoryLogger(),
    );
    assert.equal(outcome.outcome, 'skipped');
    assert.match(
      outcome.outcome === 'skipped' ? outcome.reason : '',
      /was deleted from the registry before it could be signed .*published 2026-12-04T10:00:02\.000Z/,
    );
  });
});

describe('signOnPush: a push not in the registry that no recorded DELETE explains is still refused', () => {
  const assertRefused = (h: ReturnType<typeof harness>, image: string) => {
    assert.equal(h.raised.length, 1, JSON.stringify(h.raised));
    assert.equal(h.raised[0]!.kind, 'signing-refused');
    assert.equal(h.raised[0]!.severity, 'HIGH');
    assert.match(h.raised[0]!.summary, /is not in the registry/);
    assert.equal(h.raised[0]!.subject, image);
    assert.equal(h.logger.entries.filter((e) => e.message === 'refused gcr event').length, 1);
    assert.deepEqual(notices(h.logger), []);
    assert.ok(!h.calls.some((c) => c.startsWith('store.') || c.startsWith('signerFor')), h.calls.join('\n'));
  };

  it('no DELETE recorded at all', async () => {
    const h = harness();
    await h.entry(gcrEvent({ action: 'INSERT', digest: DIGEST_REF }, 'push', PUSHED));
    assertRefused(h, DIGEST_REF);
  });

  it('a DELETE of another digest, or only of the tag, of a push naming its digest', async () => {
    const h = harness();
    await h.entry(gcrEvent({ action: 'DELETE', digest: `${REPO}@${OTHER}` }, 'd1', DELETED));
    await h.entry(gcrEvent({ action: 'DELETE', tag: TAG_REF }, 'd2', DELETED));
    await h.entry(gcrEvent({ action: 'INSERT', digest: DIGEST_REF, tag: TAG_REF }, 'push', PUSHED));
    assertRefused(h, DIGEST_REF);
  });

  it('a DELETE of the tag published long before this push (the tag deleted, then pushed again)', async () => {
    const h = harness();
    const lastWeek = new Date(PUSHED.getTime() - 7 * 24 * 3600_000);
    await h.entry(gcrEvent({ action: 'DELETE', tag: TAG_REF }, 'del', lastWeek));
    await h.entry(gcrEvent({ action: 'INSERT', tag: TAG_REF }, 'push', PUSHED));
    assertRefused(h, TAG_REF);
  });
});

describe('signOnPush: a DELETE', () => {
  it('of a watched repository is recorded (each reference it names), signs nothing, raises nothing', async () => {
    const h = harness();
    const before = Date.now();
    await h.entry(gcrEvent({ action: 'DELETE', digest: DIGEST_REF, tag: TAG_REF }, 'del', DELETED));
    assert.deepEqual(h.calls, [], 'no registry read, no claim, no key');
    assert.deepEqual(h.raised, []);
    for (const [reference, kind] of [
      [DIGEST_REF, 'digest'],
      [TAG_REF, 'tag'],
    ] as const) {
      const record = await h.deletions.find(reference);
      assert.ok(record, reference);
      assert.equal(record.reference, reference);
      assert.equal(record.kind, kind);
      assert.equal(record.publishedAt, DELETED.getTime());
      assert.ok(record.recordedAt >= before && record.recordedAt <= Date.now());
      assert.equal(record.expireAt.getTime(), record.recordedAt + DELETION_TTL_MS);
    }
    assert.ok(
      h.logger.entries.some(
        (e) =>
          e.severity === 'INFO' &&
          e.message === 'skipped: DELETE needs no signature; the deletion is recorded',
      ),
      JSON.stringify(h.logger.entries),
    );
  });

  it('redelivered, or an older one handled late, keeps the newest deletion', async () => {
    const h = harness();
    await h.entry(gcrEvent({ action: 'DELETE', tag: TAG_REF }, 'new', DELETED));
    await h.entry(gcrEvent({ action: 'DELETE', tag: TAG_REF }, 'old', PUSHED));
    assert.equal((await h.deletions.find(TAG_REF))?.publishedAt, DELETED.getTime());
  });

  it('of an unwatched repository is not recorded', async () => {
    const h = harness();
    await h.entry(gcrEvent({ action: 'DELETE', digest: `us-east1-docker.pkg.dev/p/other/app@${D}` }));
    assert.equal((h.deletions as MemoryDeletionStore).records.size, 0);
    assert.ok(h.logger.entries.some((e) => e.message === 'skipped: DELETE needs no signature'));
  });

  it('whose record cannot be written (Firestore down) fails retryably, so Pub/Sub redelivers it', async () => {
    const down = Object.assign(new Error('14 UNAVAILABLE: no connection'), { code: 14 });
    const db = {
      collection: () => ({ doc: () => ({}) }),
      runTransaction: async () => {
        throw down;
      },
    } as unknown as Firestore;
    const h = harness({ deletions: new FirestoreDeletionStore(db) });
    const error = await h.entry(gcrEvent({ action: 'DELETE', digest: DIGEST_REF }, 'del', DELETED)).then(
      () => assert.fail('a DELETE whose record was not written must not be acknowledged'),
      (err: unknown) => err,
    );
    assert.ok(error instanceof DependencyError, String(error));
    assert.ok(isRetryable(error));
    assert.equal(error.details['image'], DIGEST_REF);
    assert.deepEqual(h.raised, [], 'no alert: a redelivery will record it');
    assert.deepEqual(h.calls, []);
    // The line says what failed (the deletion's record, not a signing) and names the deleted digest.
    const lines = h.logger.entries.filter((e) => e.severity === 'ERROR');
    assert.deepEqual(
      lines.map((e) => [e.message, e['action'], e['image']]),
      [['recording the deletion failed; Pub/Sub will redeliver', 'DELETE', DIGEST_REF]],
      JSON.stringify(h.logger.entries),
    );
    assert.equal((lines[0]!['error'] as { image?: string }).image, DIGEST_REF);
  });

  it('whose write failed records nothing, and its redelivery records it', async () => {
    const memory = new MemoryDeletionStore();
    let fail = true;
    const flaky: DeletionStore = {
      record: async (d) => {
        if (fail) throw new DependencyError('firestore', 'could not record', { image: d.reference });
        return memory.record(d);
      },
      find: (r) => memory.find(r),
    };
    const h = harness({ deletions: flaky });
    const event = gcrEvent({ action: 'DELETE', digest: DIGEST_REF }, 'del', DELETED);
    await assert.rejects(h.entry(event), DependencyError);
    assert.equal(memory.records.size, 0);
    fail = false;
    await h.entry(event);
    assert.equal((await memory.find(DIGEST_REF))?.publishedAt, DELETED.getTime());
  });
});

describe('signOnPush: a push not in the registry whose deletion lookup fails', () => {
  it('fails retryably (no alert, nothing signed); redelivered once Firestore answers, it is explained', async () => {
    const memory = new MemoryDeletionStore();
    await memory.record({ reference: DIGEST_REF, kind: 'digest', publishedAt: DELETED.getTime() });
    let down = true;
    const h = harness({
      deletions: {
        record: (d) => memory.record(d),
        find: async (r) => {
          if (down) throw new DependencyError('firestore', `could not read whether ${r} was deleted`);
          return memory.find(r);
        },
      },
    });
    const event = gcrEvent({ action: 'INSERT', digest: DIGEST_REF }, 'push', PUSHED);
    await assert.rejects(h.entry(event), DependencyError);
    assert.deepEqual(h.raised, []);
    down = false;
    await h.entry(event);
    assert.deepEqual(h.raised, []);
    assert.equal(notices(h.logger).length, 1);
    assert.ok(!h.calls.some((c) => c.startsWith('store.') || c.startsWith('signerFor')), h.calls.join('\n'));
  });
});
