import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { readCosignSignatures } from '../../../functions/attach/cosign-layout.ts';
import { listBundleReferrers } from '../../../functions/attach/referrer.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { makeOciImage } from '../../helpers/oci-layout.ts';
import { logEntriesWithHash, sha256Hex, signingRecords, waitForState } from '../../helpers/signatures.ts';
import { skopeoCopy } from '../../helpers/skopeo.ts';
import { freshRepository, type TestStack, testStack } from '../../helpers/stack.ts';

// Faults are switched on in the real KMS and log emulators the stack runs; the function out of
// process fails, Pub/Sub redelivers, and once the fault heals the image ends signed exactly once.
describe('KMS and log faults end in retries, then one clean signature', () => {
  let stack: TestStack;
  let records: ReturnType<typeof signingRecords>;
  let registry: RegistryClient;
  before(() => {
    stack = testStack();
    records = signingRecords(stack);
    registry = new RegistryClient({ allowedHosts: [stack.env.REGISTRY!] });
  });
  afterEach(async () => {
    await fetch(`${stack.env.KMS_ADMIN_URL}/faults`, { method: 'DELETE' });
    await fetch(`${stack.env.REKOR_URL}/__faults`, { method: 'DELETE' });
  });
  after(() => records.db.terminate());

  const kmsFault = (settings: Record<string, unknown>) =>
    fetch(`${stack.env.KMS_ADMIN_URL}/faults`, { method: 'PUT', body: JSON.stringify(settings) });
  const logFault = (settings: Record<string, unknown>) =>
    fetch(`${stack.env.REKOR_URL}/__faults`, { method: 'POST', body: JSON.stringify(settings) });

  async function pushAndExpectOneSignature(): Promise<number> {
    const repository = freshRepository('faults');
    const pushed = makeOciImage({ tag: 'v1' });
    await skopeoCopy(pushed.source, `docker://${stack.env.REGISTRY}/${repository}:v1`);
    const image = `${stack.env.REGISTRY}/${repository}@${pushed.digest}`;
    const record = await waitForState(records, image, 'attached', 90_000);
    const ref = { host: stack.env.REGISTRY!, repository, digest: pushed.digest };
    const sigs = await readCosignSignatures(registry, ref);
    assert.equal(sigs.length, 1, 'one cosign signature');
    assert.equal(
      (await logEntriesWithHash(stack, sha256Hex(sigs[0]!.payload))).length,
      1,
      'one hashedrekord entry',
    );
    assert.equal((await listBundleReferrers(registry, ref)).descriptors.length, 1, 'one bundle referrer');
    return record.attempts;
  }

  test('KMS UNAVAILABLE on AsymmetricSign', { timeout: 120_000 }, async () => {
    // More failures than the client library's own retries, so the function itself must fail and be redelivered.
    await kmsFault({ unavailable: 8, unavailableMethods: ['AsymmetricSign'] });
    const attempts = await pushAndExpectOneSignature();
    assert.ok(attempts > 1, `the push was redelivered (attempts: ${attempts})`);
  });

  test('KMS answers with a wrong signature CRC32C', { timeout: 120_000 }, async () => {
    await kmsFault({ wrongSignatureCrc32c: 5 });
    await pushAndExpectOneSignature();
  });

  test('KMS answers too slowly: the signing call passes its deadline, is tried again, and the image is signed once', {
    timeout: 150_000,
  }, async () => {
    // Longer than the signer's 20 s deadline per attempt (kms-signer.ts), healed while the first
    // call still waits: the late call's answer is dropped, the retry signs, nothing is signed twice.
    await kmsFault({ delayMs: 21_000 });
    const heal = setTimeout(
      () => void fetch(`${stack.env.KMS_ADMIN_URL}/faults`, { method: 'DELETE' }),
      3_000,
    );
    const started = performance.now();
    try {
      await pushAndExpectOneSignature();
    } finally {
      clearTimeout(heal);
    }
    assert.ok(performance.now() - started >= 20_000, 'the first call waited out its deadline');
  });

  test('the log answers too slowly: the request times out, the retry finds the entry, no duplicate', {
    timeout: 150_000,
  }, async () => {
    // Longer than the witness's 15 s request timeout; healed while the first request still sleeps, so
    // the retry and the late first request both reach the log: the second is an equivalent entry (409).
    await logFault({ delayMs: 16_000 });
    const heal = setTimeout(() => void fetch(`${stack.env.REKOR_URL}/__faults`, { method: 'DELETE' }), 3_000);
    try {
      await pushAndExpectOneSignature();
    } finally {
      clearTimeout(heal);
    }
  });

  test('the log answers 503', { timeout: 120_000 }, async () => {
    await logFault({ errorStatus: 503, errorCount: 12 });
    const attempts = await pushAndExpectOneSignature();
    assert.ok(attempts > 1, `the push was redelivered (attempts: ${attempts})`);
  });
});
