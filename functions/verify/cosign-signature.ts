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
import type { StoredCosignSignature, UnreadableCosignLayer } from '../attach/cosign-layout.ts';
import { parseSimpleSigningPayload } from '../attach/simple-signing.ts';
import { SigsentryError } from '../errors.ts';
import { boundText } from '../logging/bounded.ts';
import { errorMessage } from '../logging/describe.ts';
import { type DigestReference, formatRepository } from '../registry/reference.ts';
import {
  type Claim,
  claimOf,
  SignatureCheckError,
  signatureVerifiesUnder,
  signerName,
  type VerifierTrust,
  verifyClaimed,
} from './check.ts';
import { acceptedReferences, type ImagePolicy } from './policy.ts';
import type { SignatureFinding } from './verdict.ts';

const BUNDLE_V01 = 'application/vnd.dev.sigstore.bundle+json;version=0.1';

function pemCertificatesDer(pem: string | undefined): string[] {
  if (pem === undefined) return [];
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) =>
    Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64').toString('base64'),
  );
}

/** What a `.sig` layer carries besides its payload: its annotations, parsed where well formed. */
type LayerAnnotations = Omit<StoredCosignSignature, 'payload'>;

/** Why a layer without a signature annotation is ignored rather than invalid: it claims no signer. */
const NO_SIGNATURE = 'the layer has no signature annotation, so it is not a signature';

/** The kind and version of a logged entry body (base64 JSON), as the bundle's kindVersion needs them. */
function entryKindOf(body: string): { kind: string; version: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body, 'base64').toString('utf8'));
  } catch {
    throw new SignatureCheckError('the logged entry body is not JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new SignatureCheckError('the logged entry body is not a JSON object');
  }
  const { kind, apiVersion } = parsed as Record<string, unknown>;
  if (typeof kind !== 'string' || typeof apiVersion !== 'string') {
    throw new SignatureCheckError('the logged entry body names no kind and apiVersion');
  }
  return { kind, version: apiVersion };
}

/** The layer's `dev.sigstore.cosign/bundle` as bundle log entries. Throws SignatureCheckError when malformed. */
function logEntriesOf(sig: LayerAnnotations): object[] {
  if (sig.bundleAnnotation !== undefined && sig.bundle === undefined) {
    throw new SignatureCheckError('the dev.sigstore.cosign/bundle annotation is malformed');
  }
  if (sig.bundle === undefined) return [];
  const { Payload, SignedEntryTimestamp } = sig.bundle;
  return [
    {
      logIndex: String(Payload.logIndex),
      logId: { keyId: Buffer.from(Payload.logID, 'hex').toString('base64') },
      kindVersion: entryKindOf(Payload.body),
      integratedTime: String(Payload.integratedTime),
      inclusionPromise: { signedEntryTimestamp: SignedEntryTimestamp },
      canonicalizedBody: Payload.body,
    },
  ];
}

function toBundle(
  sig: LayerAnnotations,
  signature: string,
  payload: Uint8Array,
  tlogEntries: object[],
): Bundle {
  const certificates = [...pemCertificatesDer(sig.certificate), ...pemCertificatesDer(sig.chain)];
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
        digest: crypto.createHash('sha256').update(payload).digest('base64'),
      },
      signature,
    },
  };
  try {
    return BundleMessage.fromJSON(json) as unknown as Bundle;
  } catch (err) {
    throw new SignatureCheckError(`the layer does not make a Sigstore bundle: ${errorMessage(err)}`);
  }
}

/** The layer as the Sigstore bundle it amounts to. Throws SignatureCheckError when it cannot be one. */
export function cosignLayerToBundle(sig: StoredCosignSignature): Bundle {
  if (sig.signature === undefined) throw new SignatureCheckError(NO_SIGNATURE);
  return toBundle(sig, sig.signature, sig.payload, logEntriesOf(sig));
}

/**
 * Who a layer that cannot be verified claims to be from, from whatever of it is readable: its
 * certificate, the key its log entry records, or (payload in hand) the key its signature verifies under.
 */
function claimOfBrokenLayer(
  sig: LayerAnnotations,
  signature: string,
  payload: Uint8Array | undefined,
  policy: ImagePolicy,
): Claim {
  // claimOf's fallback: the expected key the layer's signature verifies under, over its payload.
  const trySignature =
    payload === undefined ? undefined : signatureVerifiesUnder(payload, Buffer.from(signature, 'base64'));
  for (const entries of [() => logEntriesOf(sig), () => []]) {
    try {
      return claimOf(toBundle(sig, signature, payload ?? new Uint8Array(), entries()), policy, trySignature);
    } catch (err) {
      if (!(err instanceof SignatureCheckError)) throw err;
    }
  }
  return { kind: 'foreign', reason: 'nothing in it names a signer' };
}

const keyVersionOf = (claim: Exclude<Claim, { kind: 'foreign' }>) =>
  claim.kind === 'key' && claim.key.keyVersion ? { keyVersion: claim.key.keyVersion } : {};

/** A layer that cannot be verified: invalid if it claims an expected signer, ignored (foreign) if not. */
function brokenLayerFinding(sig: LayerAnnotations, reason: string, claim: Claim): SignatureFinding {
  const base = { layout: 'cosign' as const, location: sig.layer.digest };
  if (claim.kind === 'foreign') {
    return {
      ...base,
      outcome: 'foreign',
      reason: `${reason}; it claims no expected signer (${claim.reason})`,
    };
  }
  return { ...base, outcome: 'invalid', reason, ...signerName(claim), ...keyVersionOf(claim) };
}

/** A layer whose payload blob could not be read (see readCosignLayers). */
export function checkUnreadableCosignLayer(
  layer: UnreadableCosignLayer,
  policy: ImagePolicy,
): SignatureFinding {
  const reason = `the payload cannot be read: ${layer.error}`;
  if (layer.signature === undefined) {
    return {
      layout: 'cosign',
      location: layer.layer.digest,
      outcome: 'foreign',
      reason: `${reason}; ${NO_SIGNATURE}`,
    };
  }
  return brokenLayerFinding(layer, reason, claimOfBrokenLayer(layer, layer.signature, undefined, policy));
}

export function checkCosignSignature(
  sig: StoredCosignSignature,
  image: DigestReference,
  policy: ImagePolicy,
  trust: VerifierTrust,
): SignatureFinding {
  const base = { layout: 'cosign' as const, location: sig.layer.digest };
  if (sig.signature === undefined) return { ...base, outcome: 'foreign', reason: NO_SIGNATURE };
  let bundle: Bundle;
  try {
    bundle = cosignLayerToBundle(sig);
  } catch (err) {
    if (!(err instanceof SignatureCheckError)) throw err;
    return brokenLayerFinding(sig, err.message, claimOfBrokenLayer(sig, sig.signature, sig.payload, policy));
  }
  const claim = claimOf(
    bundle,
    policy,
    signatureVerifiesUnder(sig.payload, Buffer.from(sig.signature, 'base64')),
  );
  if (claim.kind === 'foreign') return { ...base, outcome: 'foreign', reason: claim.reason };
  const who = { ...signerName(claim), ...keyVersionOf(claim) };
  try {
    const log = verifyClaimed(bundle, Buffer.from(sig.payload), claim, policy, trust);
    checkPayloadNamesImage(sig.payload, image, policy);
    return { ...base, outcome: 'valid', ...who, log };
  } catch (err) {
    if (!(err instanceof SignatureCheckError || err instanceof SigsentryError)) throw err;
    return { ...base, outcome: 'invalid', reason: err.message, ...who };
  }
}

/** The simple-signing payload must name this image: its digest, and its repository (or an accepted one). */
function checkPayloadNamesImage(payload: Uint8Array, image: DigestReference, policy: ImagePolicy): void {
  let claims: ReturnType<typeof parseSimpleSigningPayload>;
  try {
    claims = parseSimpleSigningPayload(payload);
  } catch (err) {
    throw new SignatureCheckError(`payload: ${errorMessage(err)}`);
  }
  if (claims.manifestDigest !== image.digest) {
    throw new SignatureCheckError(`payload signs ${boundText(claims.manifestDigest)}, not ${image.digest}`);
  }
  const accepted = acceptedReferences(policy, formatRepository(image));
  if (!accepted.has(claims.dockerReference)) {
    throw new SignatureCheckError(
      `payload names ${boundText(claims.dockerReference)}, not ${[...accepted].join(' or ')}`,
    );
  }
}
