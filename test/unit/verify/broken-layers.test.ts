/**
 * `.sig` layers anyone with push access can add: no signature annotation, an unreadable payload blob, a
 * bundle annotation whose log body is not an entry. None may crash the verifier or discard the good
 * signatures beside it; only one that claims an expected signer makes the image invalid.
 */
import assert from 'node:assert/strict';
import crypto, { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { RekorServer } from '../../../emulators/rekor/server.ts';
import {
  BUNDLE_ANNOTATION,
  SIGNATURE_ANNOTATION,
  type StoredCosignSignature,
  signatureTag,
} from '../../../functions/attach/cosign-layout.ts';
import { parseRekorBundle } from '../../../functions/attach/rekor-bundle.ts';
import {
  buildSimpleSigningPayload,
  SIMPLE_SIGNING_MEDIA_TYPE,
} from '../../../functions/attach/simple-signing.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import type { DigestReference } from '../../../functions/registry/reference.ts';
import { LocalSigner } from '../../../functions/signing/local-signer.ts';
import type { VerifierTrust } from '../../../functions/verify/check.ts';
import { checkCosignSignature } from '../../../functions/verify/cosign-signature.ts';
import { expectedKeyFromPem, type ImagePolicy } from '../../../functions/verify/policy.ts';
import { logKey } from '../../../functions/verify/trust.ts';
import type { Verdict } from '../../../functions/verify/verdict.ts';
import { verifyImage } from '../../../functions/verify/verifier.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';
import { signImage } from '../../helpers/sign-image.ts';
import { rewriteSignatureManifest } from './tamper.ts';

interface Layer {
  mediaType?: string;
  digest: string;
  size?: number;
  annotations?: Record<string, string>;
}

/** A bundle annotation whose logged body is `body` (base64 of it), its SET and log fields well formed. */
const bundleWithBody = (body: string) =>
  JSON.stringify({
    SignedEntryTimestamp: 'AAAA',
    Payload: {
      body: Buffer.from(body).toString('base64'),
      integratedTime: 1,
      logIndex: 1,
      logID: 'b'.repeat(64),
    },
  });

const cosignFindings = (verdict: Verdict) =>
  verdict.findings.filter((f) => f.layout === 'cosign').map((f) => [f.outcome, f.reason ?? '']);

describe('broken `.sig` layers', () => {
  let testRegistry: TestRegistry;
  let rekor: RekorServer;
  let log: TestLog;
  let registry: RegistryClient;
  let trust: VerifierTrust;
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signer = new LocalSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  const policy: ImagePolicy = { keys: [expectedKeyFromPem(signer.publicKeyPem)], identities: [] };

  before(async () => {
    testRegistry = await startRegistry();
    log = await startTestLog('broken-layers-rekor', { unrelatedFirstEntry: true });
    rekor = log.rekor;
    registry = new RegistryClient({ allowedHosts: [testRegistry.host] });
    trust = { logs: [logKey(rekor.url, rekor.publicKeyPem)] };
  });
  after(async () => {
    await log.stop();
    await testRegistry.stop();
  });

  /** An image with a good cosign signature, then `extra` layers appended to its `.sig` manifest. */
  const signedWith = async (
    repository: string,
    extra: (image: DigestReference, good: Layer) => Promise<Layer[]>,
  ) => {
    const pushed = await testRegistry.pushImage(repository, 'v1');
    const image = { host: testRegistry.host, repository, digest: pushed.digest };
    await signImage({ registry, signer, rekorUrl: rekor.url, formats: ['cosign'] }, image);
    const sig = await registry.getManifest(image, signatureTag(image.digest));
    const { layers } = JSON.parse(Buffer.from(sig.bytes).toString('utf8')) as { layers: Layer[] };
    const added = await extra(image, layers[0]!);
    await rewriteSignatureManifest(registry, image, (current) => {
      current.push(...added);
    });
    return image;
  };
  const blob = async (image: DigestReference, bytes: Buffer) => {
    const put = await registry.putBlob(image, bytes, SIMPLE_SIGNING_MEDIA_TYPE);
    return { mediaType: SIMPLE_SIGNING_MEDIA_TYPE, digest: put.digest, size: put.size };
  };

  it('ignores a layer without a signature annotation: the good signature keeps the image valid', async () => {
    const image = await signedWith('team/no-annotation', async (i) => [
      await blob(i, Buffer.from('{"junk":true}')),
    ]);
    const verdict = await verifyImage({ registry, trust }, image, policy);
    assert.equal(verdict.status, 'valid', verdict.reasons.join('; '));
    assert.deepEqual(
      cosignFindings(verdict).map(([outcome]) => outcome),
      ['valid', 'foreign'],
    );
    assert.match(cosignFindings(verdict)[1]![1]!, /no signature annotation/);
  });

  it('reads past a payload blob it cannot read; invalid only if that layer claims our key', async () => {
    const image = await signedWith('team/oversized', async (i, good) => {
      const oversized = await blob(i, Buffer.alloc(300 * 1024, 0x20));
      return [
        { ...oversized, annotations: { [SIGNATURE_ANNOTATION]: 'AAAA' } },
        // Our log entry beside an unreadable payload: that layer claims our key.
        { ...oversized, annotations: good.annotations! },
      ];
    });
    const verdict = await verifyImage({ registry, trust }, image, policy);
    const findings = cosignFindings(verdict);
    assert.deepEqual(
      findings.map(([outcome]) => outcome),
      ['valid', 'foreign', 'invalid'],
    );
    assert.match(findings[1]![1]!, /payload cannot be read/);
    assert.match(findings[2]![1]!, /payload cannot be read/);
    assert.equal(verdict.findings.find((f) => f.outcome === 'invalid')?.signer, policy.keys[0]!.id);
    assert.equal(verdict.status, 'invalid');
  });

  it('turns a bundle annotation whose log body is JSON null into a finding, not a crash', async () => {
    const image = await signedWith('team/null-body', async (i) => [
      {
        ...(await blob(i, Buffer.from('{"junk":true}'))),
        annotations: { [SIGNATURE_ANNOTATION]: 'AAAA', [BUNDLE_ANNOTATION]: bundleWithBody('null') },
      },
    ]);
    const verdict = await verifyImage({ registry, trust }, image, policy);
    assert.equal(verdict.status, 'valid', verdict.reasons.join('; '));
    assert.deepEqual(
      cosignFindings(verdict).map(([outcome]) => outcome),
      ['valid', 'foreign'],
    );
  });

  it('calls a malformed log body invalid when the signature is ours, foreign when it is not', () => {
    const image = { host: 'registry.example', repository: 'team/app', digest: `sha256:${'a'.repeat(64)}` };
    const payload = Buffer.from(buildSimpleSigningPayload(image));
    const ours = crypto.sign('sha256', payload, privateKey).toString('base64');
    const theirs = crypto
      .sign('sha256', payload, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey)
      .toString('base64');
    const layer = (signature: string, body: string): StoredCosignSignature => {
      const annotation = bundleWithBody(body);
      return {
        layer: {
          mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
          digest: `sha256:${'e'.repeat(64)}`,
          size: payload.length,
        },
        payload,
        signature,
        bundleAnnotation: annotation,
        bundle: parseRekorBundle(annotation),
        certificate: undefined,
        chain: undefined,
      };
    };
    for (const body of ['null', '[]', '42', '"text"', '{"kind":1,"apiVersion":"0.0.1"}', 'not json']) {
      const foreign = checkCosignSignature(layer(theirs, body), image, policy, trust);
      assert.equal(foreign.outcome, 'foreign', body);
      const invalid = checkCosignSignature(layer(ours, body), image, policy, trust);
      assert.equal(invalid.outcome, 'invalid', body);
      assert.equal(invalid.signer, policy.keys[0]!.id);
      assert.match(invalid.reason ?? '', /logged entry body/);
    }
  });
});
