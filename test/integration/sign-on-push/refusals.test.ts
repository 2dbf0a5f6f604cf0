import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { DocumentSnapshot } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { alertDocumentId } from '../../../functions/alerts/alert.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { createKmsClient } from '../../../functions/signing/kms-client.ts';
import { setKeyVersionState } from '../../helpers/kms.ts';
import { pushSampleImage } from '../../helpers/push.ts';
import { signingRecords, waitForState } from '../../helpers/signatures.ts';
import { type LogEntry, sleep, type TestStack, testStack, waitForLogEntries } from '../../helpers/stack.ts';

async function treeSize(stack: TestStack): Promise<number> {
  const info = (await (await fetch(`${stack.env.REKOR_URL}/api/v1/log`)).json()) as { treeSize: number };
  return info.treeSize;
}

describe('signOnPush refuses what it must not sign, and logs nothing for it', () => {
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

  async function publish(message: Record<string, string>): Promise<string> {
    return pubsub.topic('gcr').publishMessage({ data: Buffer.from(JSON.stringify(message)) });
  }
  const forMessage = (id: string) => (e: LogEntry) => e.messageId === id;
  const randomDigest = () => `sha256:${crypto.randomBytes(32).toString('hex')}`;

  const cases: Array<
    [string, () => Record<string, string> | Promise<Record<string, string>>, RegExp, 'ERROR' | 'INFO']
  > = [
    [
      'a digest that is not in the registry',
      () => ({ action: 'INSERT', digest: `${stack.env.REGISTRY}/team/ghost@${randomDigest()}` }),
      /refusing to sign: .* is not in the registry/,
      'ERROR',
    ],
    [
      // Artifact Registry publishes every repository of the project: skipped like any unwatched one.
      'a host outside the watched set',
      () => ({ action: 'INSERT', digest: `evil.example.com/team/app@${randomDigest()}` }),
      /skipped: repository evil\.example\.com\/team\/app is not watched/,
      'INFO',
    ],
    [
      // Known by its manifest, read like any push's: a runnable image under such a tag is signed.
      "sigsentry's own .sig manifest, named by its tag alone",
      async () => {
        const { image, ref } = await pushSampleImage(stack, 'sig-tag');
        await waitForState(records, image, 'attached');
        return { action: 'INSERT', tag: `${ref.host}/${ref.repository}:${ref.digest.replace(':', '-')}.sig` };
      },
      /skipped: signature artifact manifest/,
      'INFO',
    ],
    [
      'a DELETE',
      () => ({ action: 'DELETE', digest: `${stack.env.REGISTRY}/team/app@${randomDigest()}` }),
      /skipped: DELETE needs no signature/,
      'INFO',
    ],
  ];

  test('a digest-only message for the referrers fallback index it wrote (no tag to tell it by)', async () => {
    const { image, ref } = await pushSampleImage(stack, 'fallback-index');
    await waitForState(records, image, 'attached');
    // docker-registry 2.8 has no referrers API: the bundle referrer is listed in the fallback index.
    const registry = new RegistryClient({ allowedHosts: [ref.host] });
    const index = await registry.resolve({ ...ref, digest: undefined, tag: ref.digest.replace(':', '-') });
    const before = await treeSize(stack);
    const gcr = { action: 'INSERT', digest: `${ref.host}/${ref.repository}@${index.digest}` };
    const id = await publish(gcr);
    const log = stack.functionLog('signOnPush');
    const [line] = await waitForLogEntries(
      log,
      (e) => forMessage(id)(e) && /skipped: referrers fallback index/.test(JSON.stringify(e)),
    );
    assert.equal(line?.severity, 'INFO');
    await sleep(2000);
    assert.equal(await treeSize(stack), before, 'nothing was added to the log');
    assert.equal(await records.get(gcr.digest), undefined, 'no signing record');
    assert.deepEqual(
      (await registry.listTags(ref)).sort(),
      ['v1', ref.digest.replace(':', '-'), `${ref.digest.replace(':', '-')}.sig`].sort(),
      'no fallback index for the index',
    );
  });

  test('a failure no retry can mend (the key version disabled) is acknowledged with a signing-failed alert', async () => {
    const kms = createKmsClient({ endpoint: stack.env.KMS_ENDPOINT! });
    const setState = (state: 'ENABLED' | 'DISABLED') => setKeyVersionState(kms, stack.env.KMS_KEY!, state);
    await setState('DISABLED');
    try {
      const { image } = await pushSampleImage(stack, 'key-disabled');
      const alerts = records.db.collection('alerts');
      const deadline = Date.now() + 30_000;
      let alert: DocumentSnapshot | undefined;
      while (Date.now() < deadline) {
        alert = await alerts.doc(alertDocumentId(`signing-failed:${image}`)).get();
        if (alert.exists) break;
        await sleep(250);
      }
      assert.ok(alert?.exists, 'a signing-failed alert for the image');
      assert.equal(alert.get('state'), 'open');
      assert.equal(alert.get('severity'), 'HIGH');
      assert.equal(alert.get('evidence').lastError, 'KMS_KEY_UNUSABLE');
      assert.notEqual((await records.get(image))?.state, 'attached');
    } finally {
      await setState('ENABLED');
      await kms.close();
    }
  });

  for (const [name, message, expected, severity] of cases) {
    test(name, async () => {
      const gcr = await message();
      const before = await treeSize(stack);
      const id = await publish(gcr);
      const log = stack.functionLog('signOnPush');
      const [line] = await waitForLogEntries(
        log,
        (e) => forMessage(id)(e) && expected.test(JSON.stringify(e)),
      );
      assert.equal(line?.severity, severity);
      await sleep(2000);
      const lines = await waitForLogEntries(log, forMessage(id));
      assert.equal(
        lines.filter((e) => e.severity === 'ERROR').length,
        severity === 'ERROR' ? 1 : 0,
        'refused once, acknowledged, never retried',
      );
      assert.equal(await treeSize(stack), before, 'nothing was added to the log');
      if (gcr.digest) assert.equal(await records.get(gcr.digest), undefined, 'no signing record');
      if (severity === 'ERROR') {
        // The refusal is an alert-worthy record, with the image it concerns.
        const alert = await records.db
          .collection('alerts')
          .doc(alertDocumentId(`signing-refused:${gcr.digest}`))
          .get();
        assert.equal(alert.get('kind'), 'signing-refused');
        assert.equal(alert.get('state'), 'open');
        assert.equal(alert.get('evidence').image, gcr.digest);
      }
    });
  }
});
