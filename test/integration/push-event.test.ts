import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { makeOciImage } from '../helpers/oci-layout.ts';
import { skopeoCopy } from '../helpers/skopeo.ts';
import {
  freshRepository,
  type LogEntry,
  type TestStack,
  testStack,
  waitForLogEntries,
} from '../helpers/stack.ts';

describe('a push to docker-registry reaches signOnPush as a validated gcr CloudEvent', () => {
  let stack: TestStack;
  before(() => {
    stack = testStack();
  });

  const received = (gcr: Record<string, unknown>) => (e: LogEntry) =>
    e.message === 'received gcr event' &&
    e.validated === true &&
    JSON.stringify(e.gcr) === JSON.stringify(gcr);

  test('skopeo copy by tag arrives as INSERT with digest and tag', async () => {
    const repo = freshRepository();
    const image = makeOciImage({ tag: 'v1' });
    await skopeoCopy(image.source, `docker://${stack.env.REGISTRY}/${repo}:v1`);
    const [entry] = await waitForLogEntries(
      stack.functionLog('signOnPush'),
      received({
        action: 'INSERT',
        digest: `${stack.env.REGISTRY}/${repo}@${image.digest}`,
        tag: `${stack.env.REGISTRY}/${repo}:v1`,
      }),
    );
    assert.equal(entry?.severity, 'INFO');
    assert.equal(entry?.action, 'INSERT');
  });

  test('a push by digest arrives as a digest-only INSERT, and a manifest delete as DELETEs', async () => {
    const repo = freshRepository();
    const image = makeOciImage();
    await skopeoCopy(image.source, `docker://${stack.env.REGISTRY}/${repo}@${image.digest}`);
    const digestRef = `${stack.env.REGISTRY}/${repo}@${image.digest}`;
    await waitForLogEntries(
      stack.functionLog('signOnPush'),
      received({ action: 'INSERT', digest: digestRef }),
    );
    await skopeoCopy(image.source, `docker://${stack.env.REGISTRY}/${repo}:v2`);
    await waitForLogEntries(
      stack.functionLog('signOnPush'),
      received({ action: 'INSERT', digest: digestRef, tag: `${stack.env.REGISTRY}/${repo}:v2` }),
    );

    const res = await fetch(`http://${stack.env.REGISTRY}/v2/${repo}/manifests/${image.digest}`, {
      method: 'DELETE',
    });
    assert.equal(res.status, 202);
    await waitForLogEntries(
      stack.functionLog('signOnPush'),
      received({ action: 'DELETE', digest: digestRef }),
    );
    await waitForLogEntries(
      stack.functionLog('signOnPush'),
      received({ action: 'DELETE', tag: `${stack.env.REGISTRY}/${repo}:v2` }),
    );
  });

  test('blob uploads publish nothing: one push is one INSERT', async () => {
    const repo = freshRepository();
    const image = makeOciImage({ tag: 'only' });
    await skopeoCopy(image.source, `docker://${stack.env.REGISTRY}/${repo}:only`);
    // Only the image itself: signOnPush's own .sig and referrer pushes to this repository follow.
    const mine = (e: LogEntry) =>
      e.message === 'received gcr event' &&
      (e.gcr as { digest?: string } | undefined)?.digest === `${stack.env.REGISTRY}/${repo}@${image.digest}`;
    await waitForLogEntries(stack.functionLog('signOnPush'), mine);
    await new Promise((r) => setTimeout(r, 1500));
    const all = await waitForLogEntries(stack.functionLog('signOnPush'), mine);
    assert.equal(all.length, 1, 'the config and layer blobs must not become gcr messages');
  });
});
