/**
 * A `gcr` message carrying a field beyond the documented `action`, `digest` and `tag` (one Artifact
 * Registry adds one day) is signed as the same message without it: the field is dropped unread, and
 * neither the log lines nor the signing record carry it. Until 2026-12-03 the schema was strict, so
 * such a field would have made every push an ERROR line and nothing signed (found by review).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { readCosignSignatures } from '../../../functions/attach/cosign-layout.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { gcrEvent, signOnPushCore } from '../../helpers/sign-on-push-core.ts';

let reg: TestRegistry;
let client: RegistryClient;
before(async () => {
  reg = await startRegistry();
  client = new RegistryClient({ allowedHosts: [reg.host] });
});
after(() => reg.stop());

/** Pushes `repository:v1`, delivers its message with `extra` merged in; what the delivery did. */
async function deliver(repository: string, extra: object) {
  const pushed = await reg.pushImage(repository, 'v1', `gcr-extra-fields-${repository}`);
  const h = signOnPushCore(client, reg.host, { formats: ['cosign'], signPlatformManifests: false });
  const image = `${reg.host}/${repository}@${pushed.digest}`;
  await h.entry(gcrEvent({ action: 'INSERT', digest: image, tag: `${reg.host}/${repository}:v1`, ...extra }));
  const signatures = await readCosignSignatures(client, {
    host: reg.host,
    repository,
    digest: pushed.digest,
  });
  return { h, image, signatures };
}

test('a message with an unknown field is signed like the same message without it', async () => {
  const plain = await deliver('team/plain', {});
  const extra = await deliver('team/extra', {
    repositoryFormat: 'DOCKER',
    location: { region: 'us-east1' },
    Digest: `${reg.host}/team/other@sha256:${'e'.repeat(64)}`,
  });
  for (const { h, image, signatures } of [plain, extra]) {
    assert.equal(signatures.length, 1, `${image} is signed once`);
    assert.equal(h.store.records.get(image)?.state, 'attached');
    assert.deepEqual(h.store.records.get(image)?.tags, [`${image.split('@')[0]}:v1`], 'the tag is claimed');
    assert.deepEqual(h.raised, []);
    assert.deepEqual(
      h.logger.entries.filter((e) => e.severity === 'ERROR'),
      [],
      'no ERROR line: the message was not rejected',
    );
    const received = h.logger.entries.find((e) => e.message === 'received gcr event');
    assert.deepEqual(Object.keys(received?.['gcr'] as object).sort(), ['action', 'digest', 'tag']);
  }
});
