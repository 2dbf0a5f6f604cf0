/**
 * A push handled after its image was deleted, through the stack's signOnPush (Pub/Sub emulator,
 * Firestore emulator): the DELETE is recorded in `deletions`, and the push the registry answers 404
 * for is acknowledged with a NOTICE, not refused with a `signing-refused` alert. Both orders of
 * handling: the DELETE first, and the push first (it waits for the DELETE handled just after it).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { PubSub } from '@google-cloud/pubsub';
import { alertDocumentId } from '../../../functions/alerts/alert.ts';
import { DELETIONS, deletionId } from '../../../functions/state/deletion-records.ts';
import { signingRecords } from '../../helpers/signatures.ts';
import { type LogEntry, sleep, type TestStack, testStack, waitForLogEntries } from '../../helpers/stack.ts';

describe('signOnPush: a push whose image was deleted before it could be signed', () => {
  let stack: TestStack;
  let pubsub: PubSub;
  let records: ReturnType<typeof signingRecords>;
  before(() => {
    stack = testStack();
    pubsub = new PubSub({ projectId: stack.env.GCP_PROJECT });
    records = signingRecords(stack);
  });
  after(async () => {
    await pubsub.close();
    await records.db.terminate();
  });

  const publish = (message: Record<string, string>) =>
    pubsub.topic('gcr').publishMessage({ data: Buffer.from(JSON.stringify(message)) });
  const forMessage = (id: string) => (e: LogEntry) => e.messageId === id;
  const ghost = () =>
    `${stack.env.REGISTRY}/team/deleted-${crypto.randomBytes(4).toString('hex')}@sha256:${crypto.randomBytes(32).toString('hex')}`;

  async function assertAcknowledgedAsDeleted(pushId: string, digest: string): Promise<void> {
    const log = stack.functionLog('signOnPush');
    const [notice] = await waitForLogEntries(
      log,
      (e) => forMessage(pushId)(e) && e.message === 'image deleted before it could be signed',
    );
    assert.equal(notice?.severity, 'NOTICE');
    assert.equal(notice?.['deleted'], digest);
    assert.match(String(notice?.['deletionPublishedAt']), /^\d{4}-\d\d-\d\dT/);
    await sleep(2000);
    const lines = await waitForLogEntries(log, forMessage(pushId));
    assert.deepEqual(
      lines.filter((e) => e.severity === 'ERROR' || e.severity === 'ALERT'),
      [],
      'not refused, not retried',
    );
    const alert = await records.db
      .collection('alerts')
      .doc(alertDocumentId(`signing-refused:${digest}`))
      .get();
    assert.equal(alert.exists, false, 'no signing-refused alert');
    assert.equal(await records.get(digest), undefined, 'no signing record');
    const deletion = await records.db.collection(DELETIONS).doc(deletionId(digest)).get();
    assert.equal(deletion.get('reference'), digest);
  }

  test('the DELETE handled first: the push is acknowledged with a NOTICE', async () => {
    const digest = ghost();
    const deleteId = await publish({ action: 'DELETE', digest });
    await waitForLogEntries(
      stack.functionLog('signOnPush'),
      (e) =>
        forMessage(deleteId)(e) &&
        e.message === 'skipped: DELETE needs no signature; the deletion is recorded',
    );
    const pushId = await publish({ action: 'INSERT', digest });
    await assertAcknowledgedAsDeleted(pushId, digest);
  });

  test('the push handled first: it waits for the DELETE handled just after it', async () => {
    const digest = ghost();
    const pushId = await publish({ action: 'INSERT', digest });
    await waitForLogEntries(stack.functionLog('signOnPush'), (e) => forMessage(pushId)(e));
    await sleep(1000);
    await publish({ action: 'DELETE', digest });
    await assertAcknowledgedAsDeleted(pushId, digest);
  });
});
