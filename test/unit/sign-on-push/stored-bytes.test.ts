/**
 * A signing record is state that any writer of the database could change, not an authority on what
 * the organisation's key signs. The bytes a record stored for a format are signed again (or their
 * stored signature replayed and logged) only when they are the pushed image's own: bytes naming
 * another image are refused, with the alert, before the key or the log is asked for anything.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dsse } from '@sigstore/core';
import { buildSimpleSigningPayload } from '../../../functions/attach/simple-signing.ts';
import type { SignatureFormat } from '../../../functions/config/sign-config.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { IN_TOTO_PAYLOAD_TYPE, inTotoStatement } from '../../../functions/sign-on-push/core.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import {
  gcrEvent,
  MemorySigningStore,
  signOnPushCore,
  TEST_KEY_VERSION,
} from '../../helpers/sign-on-push-core.ts';

let reg: TestRegistry;
before(async () => {
  reg = await startRegistry();
});
after(() => reg.stop());

/** The bytes a record of `format` stores for an image: what its signature is made over. */
function signedBytesFor(
  format: SignatureFormat,
  image: { host: string; repository: string; digest: string },
) {
  return format === 'cosign'
    ? Buffer.from(buildSimpleSigningPayload(image))
    : dsse.preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, inTotoStatement(image));
}

/** A record for `image` left by an earlier attempt (its lease lapsed) holding `signedBytes`, unsigned. */
async function recordHolding(image: string, format: SignatureFormat, signedBytes: Buffer) {
  const store = new MemorySigningStore();
  const id = { image, keyVersion: TEST_KEY_VERSION };
  await store.claim(id, 'earlier-attempt', { leaseMs: 1, maxAttempts: 10, formats: [format] });
  store.records.get(image)!.formats[format] = { signedBytes: signedBytes.toString('base64') };
  await new Promise((resolve) => setTimeout(resolve, 5));
  return store;
}

for (const format of ['cosign', 'bundle'] as const) {
  describe(`signOnPush, ${format} format: bytes a signing record stored`, () => {
    test('naming another image are refused, alerted, and neither signed nor logged nor attached', async () => {
      const client = new RegistryClient({ allowedHosts: [reg.host] });
      const pushed = await reg.pushImage('team/app', `stored-${format}`);
      const image = `${reg.host}/team/app@${pushed.digest}`;
      // What someone able to write the record wants the org key to sign: an image sigsentry does not watch.
      const other = await reg.pushImage('elsewhere/tool', `stored-${format}`, `other-${format}`);
      const foreign = signedBytesFor(format, {
        host: reg.host,
        repository: 'elsewhere/tool',
        digest: other.digest,
      });
      const store = await recordHolding(image, format, foreign);
      const core = signOnPushCore(client, reg.host, { formats: [format], store });

      await core.entry(gcrEvent({ action: 'INSERT', digest: image }));

      assert.equal(core.signed.length, 0, 'nothing was signed');
      assert.equal(core.raised.length, 1, JSON.stringify(core.raised));
      // The record's incident, with its remedy: a record is not trusted over the key.
      assert.equal(core.raised[0]!.kind, 'signing-failed');
      assert.equal(core.raised[0]!.severity, 'HIGH');
      assert.equal(core.raised[0]!.subject, image);
      assert.equal(core.raised[0]!.key, `signing-failed:${image}:signature-lost`);
      assert.match(
        core.raised[0]!.summary,
        format === 'cosign'
          ? /the cosign signature: its stored payload names .*elsewhere\/tool@sha256:/
          : /the bundle signature: its stored payload is not the PAE of this image's in-toto statement/,
      );
      assert.match(
        core.raised[0]!.summary,
        /delete the record, signatures\/[0-9a-f]{64}, and run sigsentry sign/,
      );
      const progress = store.records.get(image)!.formats[format]!;
      assert.equal(progress.signature, undefined, 'no signature stored');
      assert.equal(progress.bundle, undefined, 'nothing logged');
      assert.notEqual(progress.attached, true);
      const hex = pushed.digest.slice('sha256:'.length);
      const artifactTag = format === 'cosign' ? `sha256-${hex}.sig` : `sha256-${hex}`;
      await assert.rejects(
        client.getManifest({ host: reg.host, repository: 'team/app' }, artifactTag),
        /not found|unknown|404/i,
        `no ${artifactTag} was written`,
      );
    });

    test("that are the image's own are signed, those very bytes, and attached (a resumed signing)", async () => {
      const client = new RegistryClient({ allowedHosts: [reg.host] });
      const pushed = await reg.pushImage('team/app', `own-${format}`, `own-${format}`);
      const image = `${reg.host}/team/app@${pushed.digest}`;
      const own = signedBytesFor(format, { host: reg.host, repository: 'team/app', digest: pushed.digest });
      const store = await recordHolding(image, format, own);
      const core = signOnPushCore(client, reg.host, { formats: [format], store });

      await core.entry(gcrEvent({ action: 'INSERT', digest: image }));

      assert.deepEqual(core.raised, []);
      assert.equal(core.signed.length, 1);
      assert.ok(core.signed[0]!.equals(own), 'the stored bytes, not others');
      assert.equal(store.records.get(image)!.state, 'attached');
    });
  });
}
