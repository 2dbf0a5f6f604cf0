import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { RekorServer } from '../../../emulators/rekor/server.ts';
import { signatureTag } from '../../../functions/attach/cosign-layout.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { LocalSigner } from '../../../functions/signing/local-signer.ts';
import type { VerifierTrust } from '../../../functions/verify/check.ts';
import { expectedKeyFromPem, type ImagePolicy } from '../../../functions/verify/policy.ts';
import { logKey } from '../../../functions/verify/trust.ts';
import { verifyImage } from '../../../functions/verify/verifier.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';
import { signImage } from '../../helpers/sign-image.ts';
import { flipSignatures, rewriteSignatureManifest } from './tamper.ts';

function newSigner(): LocalSigner {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return new LocalSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
}

describe('verifyImage (key-based, local registry and Rekor emulator)', () => {
  let testRegistry: TestRegistry;
  let rekor: RekorServer;
  let log: TestLog;
  let registry: RegistryClient;
  let trust: VerifierTrust;
  const signer = newSigner();
  const policy: ImagePolicy = { keys: [expectedKeyFromPem(signer.publicKeyPem)], identities: [] };

  before(async () => {
    testRegistry = await startRegistry();
    log = await startTestLog('verify-rekor', { unrelatedFirstEntry: true });
    rekor = log.rekor;
    registry = new RegistryClient({ allowedHosts: [testRegistry.host] });
    trust = { logs: [logKey(rekor.url, rekor.publicKeyPem)] };
  });
  after(async () => {
    await log.stop();
    await testRegistry.stop();
  });

  const push = async (repository: string, tag = 'v1') => {
    const pushed = await testRegistry.pushImage(repository, tag);
    return { host: testRegistry.host, repository, digest: pushed.digest };
  };
  const sign = (
    image: Awaited<ReturnType<typeof push>>,
    extra: Partial<Parameters<typeof signImage>[0]> = {},
  ) => signImage({ registry, signer, rekorUrl: rekor.url, ...extra }, image);

  it('accepts an image signed in both layouts, with log evidence for each', async () => {
    const image = await push('team/signed');
    await sign(image);
    const verdict = await verifyImage({ registry, trust }, image, policy);
    assert.equal(verdict.status, 'valid', verdict.reasons.join('; '));
    assert.deepEqual(verdict.findings.map((f) => [f.layout, f.outcome]).sort(), [
      ['bundle', 'valid'],
      ['cosign', 'valid'],
    ]);
    for (const f of verdict.findings) {
      assert.equal(f.signer, policy.keys[0]!.id);
      assert.equal(f.log?.length, 1);
      assert.equal(f.log![0]!.logId, trust.logs[0]!.logId);
    }
    assert.ok(verdict.evidence.signatureManifest?.startsWith('sha256:'));
    assert.ok(verdict.evidence.referrers?.startsWith('sha256:'));
  });

  it('calls an image without signatures unsigned, and one signed by another key unsigned too', async () => {
    const bare = await push('team/bare');
    const verdict = await verifyImage({ registry, trust }, bare, policy);
    assert.equal(verdict.status, 'unsigned');
    assert.deepEqual(verdict.findings, []);

    const other = await push('team/other');
    await sign(other, { signer: newSigner() });
    const foreign = await verifyImage({ registry, trust }, other, policy);
    assert.equal(foreign.status, 'unsigned');
    assert.ok(foreign.findings.length === 2 && foreign.findings.every((f) => f.outcome === 'foreign'));
  });

  it('calls a tampered signature annotation invalid even when the bundle still verifies', async () => {
    const image = await push('team/tampered');
    await sign(image);
    await rewriteSignatureManifest(registry, image, flipSignatures);
    const verdict = await verifyImage({ registry, trust }, image, policy);
    assert.equal(verdict.status, 'invalid');
    const cosign = verdict.findings.find((f) => f.layout === 'cosign')!;
    assert.equal(cosign.outcome, 'invalid');
    assert.match(cosign.reason ?? '', /signature|TLOG/i);
    assert.equal(verdict.findings.find((f) => f.layout === 'bundle')!.outcome, 'valid');
  });

  it('calls a signature made for another repository invalid (docker-reference and subject name)', async () => {
    const image = await push('team/replayed');
    await sign(image, { claimedRepository: 'team/elsewhere' });
    const verdict = await verifyImage({ registry, trust }, image, policy);
    assert.equal(verdict.status, 'invalid');
    assert.ok(verdict.findings.every((f) => f.outcome === 'invalid'));
    assert.match(verdict.findings.find((f) => f.layout === 'cosign')!.reason!, /team\/elsewhere/);
    // The same signatures are fine for a policy that accepts that reference (a mirror).
    const mirror = await verifyImage({ registry, trust }, image, {
      ...policy,
      references: [`${testRegistry.host}/team/elsewhere`],
    });
    assert.equal(mirror.status, 'valid');
  });

  it("accepts cosign 3's statement, whose subject names no repository, only the digest", async () => {
    const image = await push('team/cosign3');
    await sign(image, { formats: ['bundle'], namelessSubject: true });
    const verdict = await verifyImage({ registry, trust }, image, policy);
    assert.equal(verdict.status, 'valid', verdict.reasons.join('; '));
  });

  it('refuses log inclusion against another log key', async () => {
    const image = await push('team/wrong-log');
    await sign(image);
    const otherLog = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const verdict = await verifyImage(
      { registry, trust: { logs: [logKey(rekor.url, otherLog)] } },
      image,
      policy,
    );
    assert.equal(verdict.status, 'invalid');
    assert.ok(verdict.findings.every((f) => f.outcome === 'invalid' && /TLOG|log/i.test(f.reason ?? '')));
  });

  it('calls a layout that verified before and is now gone missing', async () => {
    const image = await push('team/gone');
    await sign(image);
    const sig = await registry.resolve({
      host: image.host,
      repository: image.repository,
      tag: signatureTag(image.digest),
    });
    assert.equal(await registry.deleteManifest(image, sig.digest), true);
    const verdict = await verifyImage({ registry, trust }, image, policy, {
      expectedLayouts: ['cosign', 'bundle'],
    });
    assert.equal(verdict.status, 'missing');
    assert.match(verdict.reasons.join(' '), /cosign/);
    // Without that memory the remaining bundle is enough.
    assert.equal((await verifyImage({ registry, trust }, image, policy)).status, 'valid');
  });

  it('reports key-disabled when the key state lookup says so', async () => {
    const image = await push('team/kms-state');
    const key = {
      ...policy.keys[0]!,
      keyVersion: 'projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1',
    };
    await sign(image);
    let state = 'DISABLED';
    const deps = { registry, trust, keyState: async () => state };
    const disabled = await verifyImage(deps, image, { ...policy, keys: [key] });
    assert.equal(disabled.status, 'key-disabled');
    assert.ok(disabled.findings.every((f) => f.keyState === 'DISABLED'));
    state = 'ENABLED';
    assert.equal((await verifyImage(deps, image, { ...policy, keys: [key] })).status, 'valid');
  });
});
