import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PubSub } from '@google-cloud/pubsub';
import { readLogEntries, sleep, type TestStack, testStack, waitForLogEntries } from '../helpers/stack.ts';

// Each malformed message must be acknowledged with exactly one structured error line. The Pub/Sub
// emulator redelivers an unacknowledged push about once a second, so a second line is a retry storm.
describe('malformed gcr messages are acknowledged once, never retried', () => {
  let stack: TestStack;
  let pubsub: PubSub;
  before(() => {
    stack = testStack();
    pubsub = new PubSub({ projectId: stack.env.GCP_PROJECT });
  });
  after(() => pubsub.close());

  const host = () => stack.env.REGISTRY;
  const cases: Array<[string, () => string]> = [
    ['not JSON', () => '{"action": INSERT'],
    ['wrong shape (an array)', () => '["INSERT"]'],
    [
      'unknown action',
      () => JSON.stringify({ action: 'UPDATE', digest: `${host()}/team/app@sha256:${'a'.repeat(64)}` }),
    ],
    ['neither digest nor tag', () => JSON.stringify({ action: 'INSERT' })],
    [
      'digest that is not sha256:<64 hex>',
      () => JSON.stringify({ action: 'INSERT', digest: `${host()}/team/app@sha256:abc` }),
    ],
    [
      'upper-case hex digest',
      () => JSON.stringify({ action: 'INSERT', digest: `${host()}/team/app@sha256:${'A'.repeat(64)}` }),
    ],
    ['blank message', () => ' '],
    ['JSON null', () => 'null'],
  ];

  // All cases are published at once and watched together: one wait covers every redelivery window.
  const published = new Map<string, string>();
  before(async () => {
    for (const [name, body] of cases)
      published.set(name, await pubsub.topic('gcr').publishMessage({ data: Buffer.from(body()) }));
    const log = stack.functionLog('signOnPush');
    const ids = new Set(published.values());
    await waitForLogEntries(log, (e) => ids.has(String(e.messageId)) && e.severity === 'ERROR', {
      count: ids.size,
    });
    // Long enough for two or three redeliveries had any message not been acknowledged.
    await sleep(3000);
  });

  for (const [name] of cases) {
    test(name, () => {
      const messageId = published.get(name)!;
      const lines = readLogEntries(stack.functionLog('signOnPush')).filter((e) => e.messageId === messageId);
      assert.equal(lines.length, 1, `expected one log line for message ${messageId}, got ${lines.length}`);
      assert.equal(lines[0]?.severity, 'ERROR');
      assert.match(String(lines[0]?.message), /^rejected gcr message: /);
      assert.equal((lines[0]?.error as { code?: string } | undefined)?.code, 'INVALID_INPUT');
    });
  }
});
