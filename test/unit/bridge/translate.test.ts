import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { toGcrMessage } from '../../../emulators/registry-bridge/translate.ts';

const D = `sha256:${'c'.repeat(64)}`;
const host = '127.0.0.1:5000';
const event = (action: string, target: Record<string, unknown>) => ({ id: 'e1', action, target });

describe('registry notification → gcr message', () => {
  test('a manifest push by tag is INSERT with digest and tag', () => {
    const msg = toGcrMessage(
      event('push', {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: D,
        repository: 'team/app',
        tag: 'v1',
      }),
      host,
    );
    assert.deepEqual(msg, { action: 'INSERT', digest: `${host}/team/app@${D}`, tag: `${host}/team/app:v1` });
  });
  test('an index push by digest is a digest-only INSERT', () => {
    const msg = toGcrMessage(
      event('push', {
        mediaType: 'application/vnd.oci.image.index.v1+json',
        digest: D,
        repository: 'team/app',
      }),
      host,
    );
    assert.deepEqual(msg, { action: 'INSERT', digest: `${host}/team/app@${D}` });
  });
  test("a manifest delete and its tags' deletes (distribution 2.8 shapes) are DELETEs", () => {
    assert.deepEqual(toGcrMessage(event('delete', { digest: D, repository: 'team/app' }), host), {
      action: 'DELETE',
      digest: `${host}/team/app@${D}`,
    });
    assert.deepEqual(toGcrMessage(event('delete', { repository: 'team/app', tag: 'v1' }), host), {
      action: 'DELETE',
      tag: `${host}/team/app:v1`,
    });
  });
  test('blob pushes, pulls and events of unknown shape publish nothing', () => {
    assert.equal(
      toGcrMessage(
        event('push', { mediaType: 'application/octet-stream', digest: D, repository: 'r' }),
        host,
      ),
      null,
    );
    assert.equal(
      toGcrMessage(
        event('push', {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: D,
          repository: 'r',
        }),
        host,
      ),
      null,
    );
    assert.equal(
      toGcrMessage(
        event('pull', {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: D,
          repository: 'r',
        }),
        host,
      ),
      null,
    );
    assert.equal(toGcrMessage({ nonsense: true }, host), null);
  });
});
