import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DependencyError, PolicyViolationError } from '../../../functions/errors.ts';
import type { GcrNotification } from '../../../functions/events/gcr-message.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { createSignOnPushEntry } from '../../../functions/sign-on-push/entry.ts';

const D = `sha256:${'d'.repeat(64)}`;
const cloudEvent = (data: string | undefined, id = 'msg-1') => ({
  id,
  type: 'google.cloud.pubsub.topic.v1.messagePublished',
  data: {
    message: { ...(data === undefined ? {} : { data: Buffer.from(data).toString('base64') }), messageId: id },
  },
});

function setup(handle: (n: GcrNotification) => Promise<void> = async () => {}) {
  const logger = createMemoryLogger();
  const seen: GcrNotification[] = [];
  const entry = createSignOnPushEntry({
    logger,
    core: {
      handle: async (n) => {
        seen.push(n);
        await handle(n);
      },
    },
  });
  return { logger, seen, entry };
}

describe('signOnPush entry', () => {
  test('a valid message reaches the core once', async () => {
    const { entry, seen, logger } = setup();
    await entry(
      cloudEvent(JSON.stringify({ action: 'INSERT', digest: `h.io/team/app@${D}`, tag: 'h.io/team/app:v1' })),
    );
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.digest, D);
    assert.equal(logger.entries.filter((e) => e.message === 'received gcr event').length, 1);
  });

  for (const [name, data] of [
    ['not JSON', 'INSERT h.io/team/app'],
    ['wrong shape', '{"action":"INSERT","digest":7}'],
    ['no data at all', undefined],
  ] as const) {
    test(`${name}: acknowledged (resolves) with exactly one ERROR line, core never called`, async () => {
      const { entry, seen, logger } = setup();
      await entry(cloudEvent(data));
      assert.equal(seen.length, 0);
      assert.deepEqual(
        logger.entries.map((e) => [e.severity, e.messageId]),
        [['ERROR', 'msg-1']],
      );
    });
  }

  test('a message whose digest fails its pattern beside a tag is rejected with that validation error', async () => {
    const { entry, seen, logger } = setup();
    await entry(
      cloudEvent(JSON.stringify({ action: 'INSERT', digest: 'h.io/x@sha256:BAD', tag: 'h.io/x:v1' })),
    );
    assert.equal(seen.length, 0);
    assert.equal(logger.entries.length, 1);
    assert.match(logger.entries[0]!.message, /digest must be HOST\/REPOSITORY@sha256:<64/);
  });

  test('a CloudEvent that is not a Pub/Sub message is acknowledged with an error line', async () => {
    const { entry, logger } = setup();
    await entry({ id: 'x', type: 'google.cloud.storage.object.v1.finalized', data: {} });
    assert.equal(logger.entries.length, 1);
    assert.equal(logger.entries[0]?.severity, 'ERROR');
  });

  test('a retryable failure in the core rejects, so Pub/Sub redelivers', async () => {
    const { entry } = setup(async () => {
      throw new DependencyError('kms', 'KMS unavailable', { digest: D });
    });
    await assert.rejects(
      entry(cloudEvent(JSON.stringify({ action: 'INSERT', digest: `h.io/r@${D}` }))),
      DependencyError,
    );
  });

  test('a policy refusal is acknowledged and logged, not retried', async () => {
    const { entry, logger } = setup(async () => {
      throw new PolicyViolationError('repository is not watched', { digest: D });
    });
    await entry(cloudEvent(JSON.stringify({ action: 'INSERT', digest: `h.io/r@${D}` })));
    const refusal = logger.entries.find((e) => e.message === 'refused gcr event');
    assert.equal(refusal?.severity, 'ERROR');
    assert.equal((refusal?.error as { digest?: string } | undefined)?.digest, D);
  });
});
