/**
 * One signature of cosign's `.sig` layout, checked as cosign does it: the layer's signature annotation
 * over the simple-signing payload, the `dev.sigstore.cosign/bundle` signed entry timestamp against the
 * log key, the certificate chain for keyless signatures, and the payload's `docker-manifest-digest` and
 * `docker-reference` against the image. The layer is turned into a v0.1 Sigstore bundle (message
 * signature + inclusion promise), which is what it is, so @sigstore/verify does the cryptography.
 */
import crypto from 'node:crypto';
import type { Bundle } from '@sigstore/bundle';
import { Bundle as BundleMessage } from '@sigstore/protobuf-specs';
import type { StoredCosignSignature } from '../attach/cosign-layout.ts';
import { parseSimpleSigningPayload } from '../attach/simple-signing.ts';
import { SigsentryError } from '../errors.ts';
import { type DigestReference, formatRepository } from '../registry/reference.ts';
import { claimOf, SignatureCheckError, signerName, type VerifierTrust, verifyClaimed } from './check.ts';
import { acceptedReferences, type ImagePolicy } from './policy.ts';
import type { SignatureFinding } from './verdict.ts';

const BUNDLE_V01 = 'application/vnd.dev.sigstore.bundle+json;version=0.1';

function pemCertificatesDer(pem: string | undefined): string[] {
  if (pem === undefined) return [];
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) =>
    Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64').toString('base64'),
  );
}

/** The layer as the Sigstore bundle it amounts to. Throws SignatureCheckError when it cannot be one. */
export function cosignLayerToBundle(sig: StoredCosignSignature): Bundle {
  if (sig.signature === undefined) throw new SignatureCheckError('the layer has no signature annotation');
  if (sig.bundleAnnotation !== undefined && sig.bundle === undefined) {
    throw new SignatureCheckError('the dev.sigstore.cosign/bundle annotation is malformed');
  }
  const certificates = [...pemCertificatesDer(sig.certificate), ...pemCertificatesDer(sig.chain)];
  const tlogEntries = [];
  if (sig.bundle !== undefined) {
    const body = Buffer.from(sig.bundle.Payload.body, 'base64');
    let kind: { kind?: unknown; apiVersion?: unknown };
    try {
      kind = JSON.parse(body.toString('utf8'));
    } catch {
      throw new SignatureCheckError('the logged entry body is not JSON');
    }
    tlogEntries.push({
      logIndex: String(sig.bundle.Payload.logIndex),
      logId: { keyId: Buffer.from(sig.bundle.Payload.logID, 'hex').toString('base64') },
      kindVersion: { kind: String(kind.kind), version: String(kind.apiVersion) },
      integratedTime: String(sig.bundle.Payload.integratedTime),
      inclusionPromise: { signedEntryTimestamp: sig.bundle.SignedEntryTimestamp },
      canonicalizedBody: sig.bundle.Payload.body,
    });
  }
  const json = {
    mediaType: BUNDLE_V01,
    verificationMaterial: {
      ...(certificates.length > 0
        ? { x509CertificateChain: { certificates: certificates.map((rawBytes) => ({ rawBytes })) } }
        : { publicKey: { hint: '' } }),
      tlogEntries,
    },
    messageSignature: {
      messageDigest: {
        algorithm: 'SHA2_256',
        digest: crypto.createHash('sha256').update(sig.payload).digest('base64'),
      },
      signature: sig.signature,
    },
  };
  return BundleMessage.fromJSON(json) as unknown as Bundle;
}

export function checkCosignSignature(
  sig: StoredCosignSignature,
  image: DigestReference,
  policy: ImagePolicy,
  trust: VerifierTrust,
): SignatureFinding {
  const base = { layout: 'cosign' as const, location: sig.layer.digest };
  let bundle: Bundle;
  try {
    bundle = cosignLayerToBundle(sig);
  } catch (err) {
    if (!(err instanceof SignatureCheckError)) throw err;
    return { ...base, outcome: 'invalid', reason: err.message };
  }
  const payload = Buffer.from(sig.payload);
  const signature = Buffer.from(sig.signature ?? '', 'base64');
  const claim = claimOf(bundle, policy, (key) => {
    try {
      return crypto.verify(null, payload, key.publicKey, signature);
    } catch {
      return false;
    }
  });
  if (claim.kind === 'foreign') return { ...base, outcome: 'foreign', reason: claim.reason };
  const who = signerName(claim);
  const keyVersion = claim.kind === 'key' && claim.key.keyVersion ? { keyVersion: claim.key.keyVersion } : {};
  try {
    const log = verifyClaimed(bundle, payload, claim, policy, trust);
    let claims: ReturnType<typeof parseSimpleSigningPayload>;
    try {
      claims = parseSimpleSigningPayload(sig.payload);
    } catch (err) {
      throw new SignatureCheckError(`payload: ${(err as Error).message}`);
    }
    if (claims.manifestDigest !== image.digest) {
      throw new SignatureCheckError(`payload signs ${claims.manifestDigest}, not ${image.digest}`);
    }
    const accepted = acceptedReferences(policy, formatRepository(image));
    if (!accepted.has(claims.dockerReference)) {
      throw new SignatureCheckError(
        `payload names ${claims.dockerReference}, not ${[...accepted].join(' or ')}`,
      );
    }
    return { ...base, outcome: 'valid', ...who, ...keyVersion, log };
  } catch (err) {
    if (!(err instanceof SignatureCheckError || err instanceof SigsentryError)) throw err;
    return { ...base, outcome: 'invalid', reason: err.message, ...who, ...keyVersion };
  }
}
