/**
 * What a bundle's statement holds is JSON anyone may write, and a check quotes it in its reasons: it
 * is described (logging/describe.ts), never coerced. String() on `{"toString":1}` throws a TypeError
 * ("Cannot convert object to primitive value"). Found by review: a junk bundle referrer whose
 * predicateType was such an object made checkBundleSignature throw, verifyImage reject, and the
 * reverify pass keep the tag's last (valid) verdict for a day (test/unit/reverify/junk-bundle-referrer).
 * And a check that throws anyway is that signature's finding, never the verdict's rejection.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { bundleToJSON } from '@sigstore/bundle';
import { DSSEBundleBuilder } from '@sigstore/sign';
import { describeError, describeValue } from '../../../functions/logging/describe.ts';
import type { Registry } from '../../../functions/registry/registry.ts';
import { COSIGN_SIGN_PREDICATE, IN_TOTO_PAYLOAD_TYPE } from '../../../functions/sign-on-push/core.ts';
import { LocalSigner } from '../../../functions/signing/local-signer.ts';
import { checkBundleSignature } from '../../../functions/verify/bundle-signature.ts';
import { expectedKeyFromPem, type ImagePolicy } from '../../../functions/verify/policy.ts';
import { verifyImage } from '../../../functions/verify/verifier.ts';

const image = { host: 'registry.example', repository: 'team/app', digest: `sha256:${'c'.repeat(64)}` };
const hex = image.digest.slice('sha256:'.length);
const JUNK = { toString: 1 };

function newSigner(): LocalSigner {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return new LocalSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
}

/** A DSSE bundle of `statement`, signed by `signer`, not logged. */
async function bundleOf(signer: LocalSigner, statement: unknown): Promise<Buffer> {
  const bundle = await new DSSEBundleBuilder({ signer, witnesses: [] }).create({
    data: Buffer.from(JSON.stringify(statement)),
    type: IN_TOTO_PAYLOAD_TYPE,
  });
  return Buffer.from(JSON.stringify(bundleToJSON(bundle)));
}

const ours = newSigner();
// No log: the signature alone decides, so a statement is judged right after it verifies.
const policy: ImagePolicy = {
  keys: [expectedKeyFromPem(ours.publicKeyPem)],
  identities: [],
  requireTlog: false,
};
const trust = { logs: [] };

describe('JSON others wrote in a bundle', () => {
  it('a predicateType {"toString":1} by anyone is another signer’s attestation, described', async () => {
    const bytes = await bundleOf(newSigner(), {
      _type: 'https://in-toto.io/Statement/v1',
      predicateType: JUNK,
      subject: [],
    });
    const finding = checkBundleSignature(bytes, 'sha256:referrer', image, policy, trust);
    assert.equal(finding.outcome, 'foreign');
    assert.equal(finding.reason, 'an attestation ({"toString":1}), not a signature');
  });

  it('statements that are no object, or whose subjects are junk, are judged without throwing', async () => {
    for (const statement of [null, [], 'text', 7]) {
      const finding = checkBundleSignature(await bundleOf(ours, statement), 'r', image, policy, trust);
      assert.equal(finding.outcome, 'foreign', JSON.stringify(statement));
      assert.match(finding.reason ?? '', /an attestation \(application\/vnd\.in-toto\+json\)/);
    }
    for (const subject of [JUNK, [null, 1, 'x', { digest: 'x' }, { digest: { sha256: JUNK } }]]) {
      const bytes = await bundleOf(ours, { predicateType: COSIGN_SIGN_PREDICATE, subject });
      const finding = checkBundleSignature(bytes, 'r', image, policy, trust);
      assert.equal(finding.outcome, 'invalid');
      assert.equal(finding.reason, `the statement does not name ${image.digest}`);
    }
  });

  it('our signature over a statement whose subject name is {"toString":1} is invalid, naming it', async () => {
    const bytes = await bundleOf(ours, {
      _type: 'https://in-toto.io/Statement/v1',
      predicateType: COSIGN_SIGN_PREDICATE,
      subject: [{ name: JUNK, digest: { sha256: hex } }],
      predicate: {},
    });
    const finding = checkBundleSignature(bytes, 'sha256:referrer', image, policy, trust);
    assert.equal(finding.outcome, 'invalid');
    assert.equal(finding.signer, policy.keys[0]!.id);
    assert.equal(finding.reason, 'the statement names {"toString":1}, not registry.example/team/app');
  });

  it('a check that throws is that signature’s invalid finding, not a rejected verdict', async () => {
    const bytes = await bundleOf(ours, {
      predicateType: COSIGN_SIGN_PREDICATE,
      subject: [{ digest: { sha256: hex } }],
    });
    // A defect, or content nothing foresaw, met while checking the signature: injected here.
    const throwing: ImagePolicy = { ...policy };
    Object.defineProperty(throwing, 'requireTlog', {
      get() {
        throw new TypeError('Cannot convert object to primitive value');
      },
    });
    const verdict = await verifyImage({ registry: {} as Registry, trust }, image, throwing, {
      sources: {
        fingerprint: { signatureManifest: null, referrers: `sha256:${'e'.repeat(64)}` },
        cosign: [],
        bundles: [{ location: 'sha256:referrer', bytes }],
      },
    });
    assert.equal(verdict.status, 'invalid');
    assert.deepEqual(
      verdict.findings.map((f) => [f.layout, f.location, f.outcome, f.reason]),
      [
        [
          'bundle',
          'sha256:referrer',
          'invalid',
          'the signature could not be checked (TypeError: Cannot convert object to primitive value)',
        ],
      ],
    );
  });

  it('describes any value without throwing', () => {
    assert.equal(describeValue('text'), 'text');
    assert.equal(describeValue(JUNK), '{"toString":1}');
    assert.equal(describeValue({ toJSON: 1, valueOf: 1 }), '{"toJSON":1,"valueOf":1}');
    assert.equal(describeValue(undefined), '(undefined)');
    assert.equal(describeValue(10n), '(bigint)');
    const cycle: Record<string, unknown> = {};
    cycle['self'] = cycle;
    assert.equal(describeValue(cycle), '(object)');
    assert.ok(describeValue('x'.repeat(5000)).length <= 1024);
    assert.equal(describeError(new TypeError('boom')), 'TypeError: boom');
    assert.equal(describeError(JUNK), '{"toString":1}');
    assert.equal(describeError(null), 'null');
  });
});
