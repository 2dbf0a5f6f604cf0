/**
 * sigsentry's verifier and the key hint of a Sigstore bundle: bundles attached before 2026-12-03 carry
 * base64(SHA-256(DER key)), later ones the SSH SHA-256 fingerprint cosign 3 and sigstore-go require
 * (signing/key-hint.ts). Both verify. The hint is unsigned (anyone can edit it; DSSE does not sign a
 * keyid), so it never decides: the key the log entry records, and the key the signature verifies under,
 * come first.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { LocalSigner } from '../../../functions/signing/local-signer.ts';
import type { VerifierTrust } from '../../../functions/verify/check.ts';
import { expectedKeyFromPem, type ImagePolicy } from '../../../functions/verify/policy.ts';
import { logKey } from '../../../functions/verify/trust.ts';
import { verifyImage } from '../../../functions/verify/verifier.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';
import { signImage } from '../../helpers/sign-image.ts';

function newKey(): string {
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** The hint sigsentry wrote until 2026-12-03: base64 SHA-256 of the DER public key. */
function legacyHint(signer: LocalSigner): string {
  const der = crypto.createPublicKey(signer.publicKeyPem).export({ type: 'spki', format: 'der' });
  return crypto.createHash('sha256').update(der).digest('base64');
}

describe('verifying bundles by either hint form, the key deciding', () => {
  let reg: TestRegistry;
  let log: TestLog;
  let registry: RegistryClient;
  let trust: VerifierTrust;
  const keyA = newKey();
  const keyB = newKey();
  const signerA = new LocalSigner(keyA);
  const signerB = new LocalSigner(keyB);
  const expectedA = expectedKeyFromPem(signerA.publicKeyPem);
  const expectedB = expectedKeyFromPem(signerB.publicKeyPem);

  before(async () => {
    [reg, log] = await Promise.all([
      startRegistry(),
      startTestLog('key-hint-forms', { unrelatedFirstEntry: true }),
    ]);
    registry = new RegistryClient({ allowedHosts: [reg.host] });
    trust = { logs: [logKey(log.rekor.url, log.rekor.publicKeyPem)] };
  });
  after(async () => {
    await reg?.stop();
    await log?.stop();
  });

  let n = 0;
  const signed = async (signer: LocalSigner, logged: boolean) => {
    const repository = `hints/app${n++}`;
    const pushed = await reg.pushImage(repository, 'v1');
    const image = { host: reg.host, repository, digest: pushed.digest };
    await signImage(
      { registry, signer, rekorUrl: logged ? log.rekor.url : undefined, formats: ['bundle'] },
      image,
    );
    return image;
  };

  it('signs with the SSH fingerprint as hint; the expected key lists it beside the legacy hint', () => {
    assert.match(signerA.hint, /^SHA256:[A-Za-z0-9+/]{43}$/);
    assert.deepEqual(expectedA.hints, [signerA.hint, legacyHint(signerA)]);
    // Ids, alerts and stored verdicts keep naming keys as before.
    assert.equal(expectedA.hint, legacyHint(signerA));
    assert.equal(expectedA.id, `pem:${legacyHint(signerA)}`);
  });

  for (const logged of [true, false]) {
    const policy = (keys: ImagePolicy['keys']): ImagePolicy => ({
      keys,
      identities: [],
      ...(logged ? {} : { requireTlog: false }),
    });
    const how = logged ? 'logged' : 'not logged (requireTlog false)';

    it(`accepts a bundle with the legacy hint, as attached before (${how})`, async () => {
      const image = await signed(new LocalSigner(keyA, { hint: legacyHint(signerA) }), logged);
      const verdict = await verifyImage({ registry, trust }, image, policy([expectedA]));
      assert.equal(verdict.status, 'valid', verdict.reasons.join('; '));
      assert.equal(verdict.findings[0]!.signer, expectedA.id);
    });

    it(`accepts a bundle with the SSH fingerprint hint (${how})`, async () => {
      const image = await signed(signerA, logged);
      const verdict = await verifyImage({ registry, trust }, image, policy([expectedA]));
      assert.equal(verdict.status, 'valid', verdict.reasons.join('; '));
      assert.equal(verdict.findings[0]!.signer, expectedA.id);
    });

    it(`a hint naming one expected key does not hide that another expected key signed (${how})`, async () => {
      for (const hint of [signerA.hint, legacyHint(signerA)]) {
        const image = await signed(new LocalSigner(keyB, { hint }), logged);
        const verdict = await verifyImage({ registry, trust }, image, policy([expectedA, expectedB]));
        assert.equal(verdict.status, 'valid', `${hint}: ${verdict.reasons.join('; ')}`);
        assert.equal(verdict.findings[0]!.signer, expectedB.id);
      }
    });

    it(`a hint naming the expected key on another key's signature is no signature of it (${how})`, async () => {
      const image = await signed(new LocalSigner(newKey(), { hint: signerA.hint }), logged);
      const verdict = await verifyImage({ registry, trust }, image, policy([expectedA]));
      assert.notEqual(verdict.status, 'valid');
      assert.deepEqual(
        verdict.findings.map((f) => f.outcome),
        ['invalid'],
      );
    });
  }
});
