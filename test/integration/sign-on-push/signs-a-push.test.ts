import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { readCosignSignatures } from '../../../functions/attach/cosign-layout.ts';
import { listBundleReferrers, readBundleReferrer } from '../../../functions/attach/referrer.ts';
import { parseSimpleSigningPayload } from '../../../functions/attach/simple-signing.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { makeOciImage } from '../../helpers/oci-layout.ts';
import {
  logEntriesWithHash,
  rekorKeyPem,
  sha256Hex,
  signingKeyPem,
  signingRecords,
  verifyBundle,
  waitForState,
} from '../../helpers/signatures.ts';
import { skopeoCopy } from '../../helpers/skopeo.ts';
import { freshRepository, type TestStack, testStack } from '../../helpers/stack.ts';

describe('skopeo copy ends, with no other step, in a signed image', () => {
  let stack: TestStack;
  let records: ReturnType<typeof signingRecords>;
  let registry: RegistryClient;
  let kmsPem: string;
  before(async () => {
    stack = testStack();
    records = signingRecords(stack);
    registry = new RegistryClient({ allowedHosts: [stack.env.REGISTRY!] });
    kmsPem = await signingKeyPem(stack);
  });
  after(() => records.db.terminate());

  test('both formats verify, each logged once, and the record is attached', async () => {
    const repository = freshRepository();
    const pushed = makeOciImage({ tag: 'v1' });
    await skopeoCopy(pushed.source, `docker://${stack.env.REGISTRY}/${repository}:v1`);
    const image = `${stack.env.REGISTRY}/${repository}@${pushed.digest}`;
    const record = await waitForState(records, image, 'attached');
    assert.equal(record.keyVersion, stack.env.KMS_KEY);
    assert.deepEqual(record.tags, [`${stack.env.REGISTRY}/${repository}:v1`]);
    assert.equal(record.attempts, 1);

    const ref = { host: stack.env.REGISTRY!, repository, digest: pushed.digest };

    // (a) the Sigstore bundle, attached as a referrer, verifies with @sigstore/verify.
    const referrers = await listBundleReferrers(registry, ref);
    assert.equal(referrers.descriptors.length, 1, 'one bundle referrer');
    const stored = await readBundleReferrer(registry, ref, referrers.descriptors[0]!);
    const bundle = JSON.parse(Buffer.from(stored.bundle).toString('utf8'));
    verifyBundle(stack, kmsPem, bundle);
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8'));
    assert.equal(statement.predicateType, 'https://sigstore.dev/cosign/sign/v1');
    assert.deepEqual(statement.subject[0].digest, { sha256: pushed.digest.slice(7) });
    assert.equal(bundle.verificationMaterial.tlogEntries[0].kindVersion.kind, 'dsse');
    const dsseEntries = await logEntriesWithHash(
      stack,
      sha256Hex(Buffer.from(bundle.dsseEnvelope.payload, 'base64')),
    );
    assert.equal(dsseEntries.length, 1, 'one dsse entry in the log');

    // (b) the cosign layout: payload, signature and the bundle annotation all verify.
    const sigs = await readCosignSignatures(registry, ref);
    assert.equal(sigs.length, 1, 'one layer in the .sig manifest');
    const sig = sigs[0]!;
    const payload = parseSimpleSigningPayload(sig.payload, pushed.digest);
    assert.equal(payload.dockerReference, `${stack.env.REGISTRY}/${repository}`);
    assert.ok(
      crypto.verify(
        'sha256',
        sig.payload,
        crypto.createPublicKey(kmsPem),
        Buffer.from(sig.signature!, 'base64'),
      ),
      'the cosign signature verifies against the KMS public key',
    );
    const rekorBundle = sig.bundle!;
    assert.ok(rekorBundle, 'the dev.sigstore.cosign/bundle annotation parses');
    // The signed entry timestamp is the log's signature over the canonical JSON of the payload.
    const { body, integratedTime, logID, logIndex } = rekorBundle.Payload;
    const canonical = JSON.stringify({ body, integratedTime, logID, logIndex });
    assert.ok(
      crypto.verify(
        'sha256',
        Buffer.from(canonical),
        crypto.createPublicKey(rekorKeyPem(stack)),
        Buffer.from(rekorBundle.SignedEntryTimestamp, 'base64'),
      ),
      'the SET verifies against the log key',
    );
    const entryBody = JSON.parse(Buffer.from(body, 'base64').toString('utf8'));
    assert.equal(entryBody.kind, 'hashedrekord');
    assert.equal(entryBody.spec.data.hash.value, sha256Hex(sig.payload));
    assert.equal(
      (await logEntriesWithHash(stack, sha256Hex(sig.payload))).length,
      1,
      'one hashedrekord entry',
    );
  });

  test('a tag added to an already signed image signs nothing new', async () => {
    const repository = freshRepository();
    const pushed = makeOciImage({ tag: 'v1' });
    await skopeoCopy(pushed.source, `docker://${stack.env.REGISTRY}/${repository}:v1`);
    const image = `${stack.env.REGISTRY}/${repository}@${pushed.digest}`;
    await waitForState(records, image, 'attached');
    await skopeoCopy(pushed.source, `docker://${stack.env.REGISTRY}/${repository}:stable`);
    const deadline = Date.now() + 15_000;
    let record = await records.get(image);
    while (!record?.tags.includes(`${stack.env.REGISTRY}/${repository}:stable`) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      record = await records.get(image);
    }
    assert.deepEqual(record?.tags.sort(), [
      `${stack.env.REGISTRY}/${repository}:stable`,
      `${stack.env.REGISTRY}/${repository}:v1`,
    ]);
    assert.equal(record?.attempts, 1, 'the second tag did not start a new signing attempt');
    const sigs = await readCosignSignatures(registry, {
      host: stack.env.REGISTRY!,
      repository,
      digest: pushed.digest,
    });
    assert.equal(sigs.length, 1);
  });
});
