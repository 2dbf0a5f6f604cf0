/**
 * A signature read back out of a signing record, to attach again (keepAttached: it is gone from the
 * registry) or for the first time (a resumed signing: the record stores its bundle, not yet
 * attached). The record is state any writer of the database could change, not an authority on what
 * the organisation's key signed (README), so what it stores goes to the registry only if
 * reverifyImages would call it valid there: judged by reverify's own code (checkCosignSignature over
 * the `.sig` layer the attach would write, annotations included; checkBundleSignature over the
 * bundle's bytes), under a policy naming the rule's key alone and trusting the log signOnPush signs
 * into. So its signature, its log entry (the body, the signed entry timestamp, the inclusion proof),
 * and its naming of this image all verify, or nothing is attached. Found by review: at first a
 * stored bundle was attached whichever image or key it named; then only the signature was checked,
 * so a record whose log entry was altered was attached, counted as present and never repaired.
 */
import type { CosignSignature, StoredCosignSignature } from '../attach/cosign-layout.ts';
import {
  BUNDLE_ANNOTATION,
  CERTIFICATE_ANNOTATION,
  CHAIN_ANNOTATION,
  SIGNATURE_ANNOTATION,
} from '../attach/cosign-layout.ts';
import { parseRekorBundle, serializeRekorBundle } from '../attach/rekor-bundle.ts';
import { SIMPLE_SIGNING_MEDIA_TYPE } from '../attach/simple-signing.ts';
import { errorMessage } from '../logging/describe.ts';
import { sha256Digest } from '../registry/digest.ts';
import type { DigestReference } from '../registry/reference.ts';
import { canonicalBase64 } from '../tlog/client/rekor-v1-retrieved.ts';
import { checkBundleSignature } from '../verify/bundle-signature.ts';
import { checkCosignSignature } from '../verify/cosign-signature.ts';
import type { ImagePolicy } from '../verify/policy.ts';
import type { LogKey } from '../verify/trust.ts';
import type { SignatureFinding } from '../verify/verdict.ts';

/** A format's stored signature, as it would be attached. */
export type StoredSignature =
  | { format: 'cosign'; signature: CosignSignature }
  | { format: 'bundle'; bytes: Buffer };

/** A format the record gives nothing to attach for, and why. */
export interface StoredRefusal {
  format: string;
  why: string;
}

/** What a stored signature is judged against: the rule's key, and the log signOnPush signs into. */
export interface StoredSignatureTrust {
  policy: ImagePolicy;
  /** The signing log's key; none when the configuration logs nowhere (policy.requireTlog false). */
  logs: LogKey[];
}

/** The `.sig` layer attachCosignSignature writes for `sig`, as readCosignLayers reads it back. */
function asWrittenLayer(sig: CosignSignature): StoredCosignSignature {
  const bundleAnnotation = sig.bundle === undefined ? undefined : serializeRekorBundle(sig.bundle);
  const annotations: Record<string, string> = { [SIGNATURE_ANNOTATION]: sig.signature };
  if (bundleAnnotation !== undefined) annotations[BUNDLE_ANNOTATION] = bundleAnnotation;
  if (sig.certificate !== undefined) annotations[CERTIFICATE_ANNOTATION] = sig.certificate;
  if (sig.chain !== undefined) annotations[CHAIN_ANNOTATION] = sig.chain;
  const payload = Buffer.from(sig.payload);
  return {
    layer: {
      mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
      digest: sha256Digest(payload),
      size: payload.length,
      annotations,
    },
    payload,
    signature: sig.signature,
    bundleAnnotation,
    bundle: bundleAnnotation === undefined ? undefined : parseRekorBundle(bundleAnnotation),
    certificate: sig.certificate,
    chain: sig.chain,
  };
}

/**
 * Why `stored` must not be attached to `image`, or undefined when reverifyImages would find it a
 * valid signature of `image` by the rule's key, logged in the signing log.
 */
export function storedSignatureRefusal(
  image: DigestReference,
  stored: StoredSignature,
  trust: StoredSignatureTrust,
): string | undefined {
  const unread = unreadByGoVerifiers(stored, trust.policy.keys[0]?.hints ?? []);
  if (unread !== undefined) return unread;
  let finding: SignatureFinding;
  try {
    finding =
      stored.format === 'cosign'
        ? checkCosignSignature(asWrittenLayer(stored.signature), image, trust.policy, { logs: trust.logs })
        : checkBundleSignature(stored.bytes, 'signing record', image, trust.policy, { logs: trust.logs });
  } catch (err) {
    // What the record stores is the database's JSON: a shape the checks do not expect is refused.
    return `it cannot be read as a signature (${errorMessage(err)})`;
  }
  if (finding.outcome === 'valid') return undefined;
  return finding.outcome === 'foreign'
    ? `it is not a signature by the rule's key (${finding.reason})`
    : `it does not verify (${finding.reason})`;
}

/**
 * What reverify's checks accept but cosign and sigstore-go refuse, found by review: a cosign
 * signature or SET that is not standard padded base64 (Go's StdEncoding refuses it), and a bundle whose
 * DSSE keyid or key hint names another key (sigstore-go skips a signature whose keyid is not the
 * key's, and the envelope then fails). `hints` are the names sigsentry has given the key.
 */
function unreadByGoVerifiers(stored: StoredSignature, hints: readonly string[]): string | undefined {
  if (stored.format === 'cosign') {
    if (canonicalBase64(stored.signature.signature) === undefined) {
      return 'its signature is not standard padded base64, which cosign does not read';
    }
    // The annotation's SET is a strfmt.Base64 in cosign, decoded as strictly.
    const set = stored.signature.bundle?.SignedEntryTimestamp;
    if (set !== undefined && canonicalBase64(set) === undefined) {
      return "its log entry's signed entry timestamp is not standard padded base64, which cosign does not read";
    }
    return undefined;
  }
  let named: { keyid: unknown; hint: unknown };
  try {
    const bundle = JSON.parse(stored.bytes.toString('utf8')) as {
      dsseEnvelope?: { signatures?: Array<{ keyid?: unknown }> };
      verificationMaterial?: { publicKey?: { hint?: unknown } };
    };
    named = {
      keyid: bundle.dsseEnvelope?.signatures?.[0]?.keyid,
      hint: bundle.verificationMaterial?.publicKey?.hint,
    };
  } catch {
    return undefined; // not JSON: checkBundleSignature says so
  }
  const namesTheKey = (value: unknown) =>
    value === undefined || value === '' || (typeof value === 'string' && hints.includes(value));
  if (!namesTheKey(named.keyid))
    return "its DSSE keyid is not the rule's key's, so sigstore-go skips its signature";
  if (!namesTheKey(named.hint)) return "its key hint is not the rule's key's";
  return undefined;
}
