/**
 * A format added to a watch rule reaches the images signed before it (a deployment moving from the
 * cosign layout alone to `bundle,cosign`, which cosign 3 reads by default): their records are claimed
 * again for the new format, and what they had is neither signed nor attached again.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { gcrEvent, signOnPushCore } from '../../helpers/sign-on-push-core.ts';

let reg: TestRegistry;
before(async () => {
  reg = await startRegistry();
});
after(() => reg.stop());

test('an image signed in the cosign layout gets the bundle once the rule asks for it, and nothing twice', async () => {
  const client = new RegistryClient({ allowedHosts: [reg.host] });
  const pushed = await reg.pushImage('team/app', 'v1');
  const image = `${reg.host}/team/app@${pushed.digest}`;
  const before = signOnPushCore(client, reg.host, { formats: ['cosign'] });
  await before.entry(gcrEvent({ action: 'INSERT', digest: image }));
  const record = () => before.store.records.get(image)!;
  assert.equal(record().state, 'attached');
  const cosign = structuredClone(record().formats.cosign);

  const after = signOnPushCore(client, reg.host, { formats: ['bundle', 'cosign'], store: before.store });
  await after.entry(gcrEvent({ action: 'INSERT', digest: image }, 'm2'));
  assert.equal(record().state, 'attached');
  assert.equal(record().formats.bundle?.attached, true, 'the bundle is attached');
  assert.deepEqual(record().formats.cosign, cosign, 'the cosign signature is kept as it was');
  assert.equal(after.signed.length, 1, 'one signing: the bundle only');
  const referrers = await client.getManifest(
    { host: reg.host, repository: 'team/app' },
    `sha256-${pushed.digest.slice('sha256:'.length)}`,
  );
  assert.ok(referrers.bytes.byteLength > 0, 'the referrers fallback index exists');

  await after.entry(gcrEvent({ action: 'INSERT', digest: image }, 'm3'));
  assert.equal(after.signed.length, 1, 'then it is done');
});
