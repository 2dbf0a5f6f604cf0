/**
 * One Sigstore bundle attached as a referrer, checked as cosign 3 verifies an image signature: a DSSE
 * envelope holding an in-toto statement with cosign's signing predicate, whose subject is the image
 * (the digest, and the repository as its name), signed by an expected signer with log inclusion.
 * Other bundles (attestations with other predicates, message signatures) are not image signatures.
 */
import { type Bundle, bundleFromJSON } from '@sigstore/bundle';
import { dsse } from '@sigstore/core';
import { boundText } from '../logging/bounded.ts';
import { describeValue, errorMessage } from '../logging/describe.ts';
import { type DigestReference, formatRepository } from '../registry/reference.ts';
import { COSIGN_SIGN_PREDICATE, IN_TOTO_PAYLOAD_TYPE } from '../sign-on-push/core.ts';
import {
  claimOf,
  SignatureCheckError,
  signatureVerifiesUnder,
  signerName,
  type VerifierTrust,
  verifyClaimed,
} from './check.ts';
import { acceptedReferences, type ExpectedKey, type ImagePolicy } from './policy.ts';
import type { SignatureFinding } from './verdict.ts';

/**
 * An in-toto statement as the signer wrote it: JSON anyone may write, so every field is `unknown`
 * until checked, and quoted only through describeValue (never String(), which a member
 * `"toString": 1` makes throw).
 */
interface Statement {
  predicateType?: unknown;
  subject?: unknown;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The envelope's in-toto statement: a JSON object, or undefined (not in-toto, not JSON, not an object). */
function statementOf(bundle: Bundle): Statement | undefined {
  if (bundle.content.$case !== 'dsseEnvelope') return undefined;
  const envelope = bundle.content.dsseEnvelope;
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(envelope.payload).toString('utf8'));
  } catch {
    return undefined;
  }
  return isObject(parsed) ? parsed : undefined;
}

/**
 * claimOf's fallback: the expected key the envelope's (first) signature verifies under, over DSSE's
 * pre-authentication encoding (which the keyid is not part of).
 */
function envelopeVerifiesUnder(bundle: Bundle): ((key: ExpectedKey) => boolean) | undefined {
  if (bundle.content.$case !== 'dsseEnvelope') return undefined;
  const envelope = bundle.content.dsseEnvelope;
  const signature = envelope.signatures[0]?.sig;
  if (signature === undefined) return undefined;
  return signatureVerifiesUnder(dsse.preAuthEncoding(envelope.payloadType, envelope.payload), signature);
}

export function parseBundle(bytes: Uint8Array): Bundle {
  try {
    return bundleFromJSON(JSON.parse(Buffer.from(bytes).toString('utf8')));
  } catch (err) {
    throw new SignatureCheckError(`not a valid Sigstore bundle: ${errorMessage(err)}`);
  }
}

export function checkBundleSignature(
  bytes: Uint8Array,
  location: string,
  image: DigestReference,
  policy: ImagePolicy,
  trust: VerifierTrust,
): SignatureFinding {
  const base = { layout: 'bundle' as const, location };
  let bundle: Bundle;
  try {
    bundle = parseBundle(bytes);
  } catch (err) {
    return { ...base, outcome: 'invalid', reason: (err as Error).message };
  }
  if (bundle.content.$case !== 'dsseEnvelope') {
    return { ...base, outcome: 'foreign', reason: 'a message-signature bundle is not an image signature' };
  }
  const statement = statementOf(bundle);
  if (statement === undefined || statement.predicateType !== COSIGN_SIGN_PREDICATE) {
    // The predicate type is the signer's JSON, whatever it is: described, never coerced.
    const what = statement?.predicateType ?? bundle.content.dsseEnvelope.payloadType;
    return {
      ...base,
      outcome: 'foreign',
      reason: `an attestation (${describeValue(what)}), not a signature`,
    };
  }
  const claim = claimOf(bundle, policy, envelopeVerifiesUnder(bundle));
  if (claim.kind === 'foreign') return { ...base, outcome: 'foreign', reason: claim.reason };
  const who = signerName(claim);
  const keyVersion = claim.kind === 'key' && claim.key.keyVersion ? { keyVersion: claim.key.keyVersion } : {};
  try {
    const log = verifyClaimed(bundle, undefined, claim, policy, trust);
    const hex = image.digest.slice('sha256:'.length);
    const subjects: unknown[] = Array.isArray(statement.subject) ? statement.subject : [];
    const forDigest = subjects
      .filter(isObject)
      .filter((s) => isObject(s['digest']) && s['digest']['sha256'] === hex);
    if (forDigest.length === 0) throw new SignatureCheckError(`the statement does not name ${image.digest}`);
    // cosign 3 names no repository in its statement's subject (the digest alone, which is all its
    // verifiers compare); a subject that does name one must name an accepted repository.
    const accepted = acceptedReferences(policy, formatRepository(image));
    if (
      !forDigest.some(
        (s) => s['name'] === undefined || (typeof s['name'] === 'string' && accepted.has(s['name'])),
      )
    ) {
      // Each name is the signer's JSON (a string as a rule): described, never coerced.
      throw new SignatureCheckError(
        `the statement names ${boundText(forDigest.map((s) => describeValue(s['name'])).join(', '))}, not ${[...accepted].join(' or ')}`,
      );
    }
    return { ...base, outcome: 'valid', ...who, ...keyVersion, log };
  } catch (err) {
    if (!(err instanceof SignatureCheckError)) throw err;
    return { ...base, outcome: 'invalid', reason: err.message, ...who, ...keyVersion };
  }
}
