/**
 * Verifying one signature, whichever layout it came from, as a Sigstore bundle with @sigstore/verify:
 * who it claims to be from (an expected key, an expected identity, or someone else), then the
 * signature, the certificate chain and SCTs (keyless), and log inclusion (signed entry timestamp and/or
 * inclusion proof against a signed checkpoint) against the trust material for that signer.
 */
import crypto from 'node:crypto';
import type { Bundle } from '@sigstore/bundle';
import type { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, Verifier } from '@sigstore/verify';
import { boundText } from '../logging/bounded.ts';
import { errorMessage } from '../logging/describe.ts';
import { legacyKeyHint } from '../signing/key-hint.ts';
import { spkiDer } from '../tlog/checkpoint/keys.ts';
import { certificateIdentity } from '../tlog/entries/identity.ts';
import { type EntryVerifier, type ParsedEntry, parseEntryBody } from '../tlog/entries/parse.ts';
import type { ExpectedIdentity, ExpectedKey, ImagePolicy } from './policy.ts';
import { keyTrustMaterial, type LogKey, rootTrustMaterial } from './trust.ts';
import type { LogEvidence } from './verdict.ts';

export interface VerifierTrust {
  /** Logs sigsentry's own (key-based) signatures are recorded in. */
  logs: LogKey[];
  /** The root keyless signatures chain to (the public-good instance's, embedded). */
  publicGoodRoot?: TrustedRoot;
}

export type Claim =
  | { kind: 'key'; key: ExpectedKey }
  | { kind: 'identity'; identity: ExpectedIdentity; san: string; issuer: string }
  | { kind: 'foreign'; reason: string };

/** A check that failed: the reason is what an operator reads. */
export class SignatureCheckError extends Error {}

function certificateDer(bundle: Bundle): Buffer | undefined {
  const content = bundle.verificationMaterial.content;
  if (content.$case === 'certificate') return Buffer.from(content.certificate.rawBytes);
  if (content.$case === 'x509CertificateChain') {
    const leaf = content.x509CertificateChain.certificates[0];
    return leaf === undefined ? undefined : Buffer.from(leaf.rawBytes);
  }
  return undefined;
}

/** A predicate for claimOf: whether `signature` over `message` verifies under an expected key. */
export function signatureVerifiesUnder(
  message: Uint8Array,
  signature: Uint8Array,
): (key: ExpectedKey) => boolean {
  return (key) => {
    try {
      return crypto.verify(null, message, key.publicKey, signature);
    } catch {
      return false;
    }
  };
}

/**
 * The key a logged verifier names, its public key or its certificate's, as canonical SPKI DER
 * (spkiDer), so two encodings of one key compare equal.
 */
function loggedVerifierKeyDer(verifier: EntryVerifier): Buffer | undefined {
  try {
    if (verifier.type === 'publicKey') return spkiDer(verifier.pem);
    if (verifier.type === 'certificate') return spkiDer(new crypto.X509Certificate(verifier.der).publicKey);
  } catch {
    // An unsupported or garbled key names no key we could expect.
  }
  return undefined;
}

/** Every verifier an entry records (intoto 0.0.1 keeps no signatures, only its one key). */
function entryVerifiers(entry: ParsedEntry): EntryVerifier[] {
  return entry.signatures.length > 0 ? entry.signatures.map((s) => s.verifier) : [entry.verifier];
}

/** The key (canonical SPKI DER) the bundle's first log entry records, when the entry names one. */
function loggedKeyDer(bundle: Bundle): Buffer | undefined {
  const entry = bundle.verificationMaterial.tlogEntries[0];
  if (entry === undefined) return undefined;
  const parsed = parseEntryBody(Buffer.from(entry.canonicalizedBody));
  return parsed.ok ? loggedVerifierKeyDer(parsed.entry.verifier) : undefined;
}

function describeVerifier(verifier: EntryVerifier): string {
  const der = loggedVerifierKeyDer(verifier);
  if (verifier.type === 'certificate') {
    return `a certificate for key ${der === undefined ? '(unreadable)' : legacyKeyHint(der)}`;
  }
  if (verifier.type === 'publicKey') return `key ${der === undefined ? '(unreadable)' : legacyKeyHint(der)}`;
  return `a ${verifier.format} verifier`;
}

/** A PEM key's id is its hint already; a KMS key version's is not. */
const describeExpectedKey = (key: ExpectedKey) =>
  key.keyVersion === undefined ? key.id : `${key.id} (key ${key.hint})`;

/** A log entry whose recorded key or certificate is not the signer being verified. */
export class LoggedSignerMismatchError extends SignatureCheckError {}

function checkLoggedKey(where: string, verifier: EntryVerifier, key: ExpectedKey): void {
  if (loggedVerifierKeyDer(verifier)?.equals(key.der)) return;
  throw new LoggedSignerMismatchError(
    `${where} records ${describeVerifier(verifier)}, not the expected key ${describeExpectedKey(key)}`,
  );
}

function checkLoggedCertificate(
  where: string,
  verifier: EntryVerifier,
  certificate: Buffer | undefined,
): void {
  if (verifier.type === 'certificate' && certificate !== undefined && verifier.der.equals(certificate))
    return;
  throw new LoggedSignerMismatchError(
    `${where} records ${verifier.type === 'certificate' ? 'another certificate' : describeVerifier(verifier)}, not the signature's certificate`,
  );
}

/**
 * Every log entry must record the signer being verified, as cosign (comparePublicKey) and sigstore-go
 * (CompareKey) require: @sigstore/verify compares only the logged signature and digest, and an ECDSA
 * signature also verifies under a second key anyone can compute, which the log accepts as the entry's
 * key. Without this, a signature never logged under the expected key would pass as logged.
 */
function checkLoggedSigner(bundle: Bundle, claim: Exclude<Claim, { kind: 'foreign' }>): void {
  for (const entry of bundle.verificationMaterial.tlogEntries) {
    const where = `log entry ${entry.logIndex}`;
    const parsed = parseEntryBody(Buffer.from(entry.canonicalizedBody));
    if (!parsed.ok) throw new SignatureCheckError(`${where} cannot be read: ${parsed.error.message}`);
    for (const verifier of entryVerifiers(parsed.entry)) {
      if (claim.kind === 'key') checkLoggedKey(where, verifier, claim.key);
      else checkLoggedCertificate(where, verifier, certificateDer(bundle));
    }
  }
}

/** Every character with a meaning in a (non-unicode) regular expression. */
const REGEX_SYNTAX = /[.*+?^${}()|[\]\\/]/g;

/**
 * The subjectAlternativeName to hand @sigstore/verify, which matches it as a regular expression
 * (policy.js: `signerIdentity.match(policyIdentity)`): an exact identity goes in escaped and anchored,
 * so it means equality, as it does in claimOf.
 */
export function sanPolicyPattern(expected: string | RegExp): string | RegExp {
  if (typeof expected !== 'string') return expected;
  return `^${expected.replace(REGEX_SYNTAX, '\\$&')}$`;
}

function identityMatches(
  expected: ExpectedIdentity,
  san: string | undefined,
  issuer: string | undefined,
): boolean {
  if (san === undefined || issuer !== expected.issuer) return false;
  const pattern = expected.subjectAlternativeName;
  return typeof pattern === 'string' ? pattern === san : pattern.test(san);
}

/**
 * Which expected signer a bundle claims: its certificate's identity, the key its first log entry
 * records, (`trySignature`) an expected key its signature verifies under, or else its key hint. A claim
 * is only a claim: verifyClaimed checks it, the logged key included. Key material comes first, so a hint
 * (unsigned: anyone can edit it, and DSSE does not sign a keyid) never steers the check away from the key
 * that signed; it only names the key when nothing else does, which verifyClaimed then refuses (invalid).
 * A hint is matched in either form sigsentry has written (ExpectedKey.hints: the SSH fingerprint, and
 * until 2026-12-03 base64 SHA-256 of the DER key).
 */
export function claimOf(
  bundle: Bundle,
  policy: ImagePolicy,
  trySignature?: (key: ExpectedKey) => boolean,
): Claim {
  const der = certificateDer(bundle);
  if (der !== undefined) {
    let id: { san: string | undefined; issuer: string | undefined };
    try {
      id = certificateIdentity(der);
    } catch {
      return { kind: 'foreign', reason: 'certificate cannot be parsed' };
    }
    const identity = policy.identities.find((e) => identityMatches(e, id.san, id.issuer));
    if (identity !== undefined && id.san !== undefined && id.issuer !== undefined) {
      return { kind: 'identity', identity, san: id.san, issuer: id.issuer };
    }
    // Matched above on the full values; the reason (stored, alerted, logged) shows them bounded.
    return {
      kind: 'foreign',
      reason: `signed by ${id.san === undefined ? '(no identity)' : boundText(id.san)} via ${id.issuer === undefined ? '(no issuer)' : boundText(id.issuer)}`,
    };
  }
  const logged = loggedKeyDer(bundle);
  const byLog = logged === undefined ? undefined : policy.keys.find((k) => k.der.equals(logged));
  if (byLog !== undefined) return { kind: 'key', key: byLog };
  // A signature that verifies under an expected key claims it even if logged under another key:
  // verifyClaimed then rejects the log entry (invalid), rather than hiding it as foreign.
  const bySignature = trySignature === undefined ? undefined : policy.keys.find(trySignature);
  if (bySignature !== undefined) return { kind: 'key', key: bySignature };
  // Named by its hint alone: neither logged under nor signed by it, so verifyClaimed finds it invalid
  // (a signature of ours altered, say), rather than hiding it as foreign.
  const content = bundle.verificationMaterial.content;
  const hint = content.$case === 'publicKey' ? content.publicKey.hint : '';
  const byHint = hint === '' ? undefined : policy.keys.find((k) => k.hints.includes(hint));
  if (byHint !== undefined) return { kind: 'key', key: byHint };
  return { kind: 'foreign', reason: 'signed by a key the policy does not name' };
}

/** The log entries of a bundle, as evidence that can be re-checked later. */
export function logEvidence(bundle: Bundle): LogEvidence[] {
  return bundle.verificationMaterial.tlogEntries.map((entry) => ({
    logId: Buffer.from(entry.logId?.keyId ?? []).toString('hex'),
    logIndex: Number(entry.logIndex),
    integratedTime: Number(entry.integratedTime),
    kind: entry.kindVersion?.kind ?? 'unknown',
    bodyHash: crypto.createHash('sha256').update(entry.canonicalizedBody).digest('hex'),
    inclusion: [
      ...(entry.inclusionPromise === undefined ? [] : (['signed-entry-timestamp'] as const)),
      ...(entry.inclusionProof === undefined ? [] : (['inclusion-proof'] as const)),
    ],
  }));
}

/**
 * Verifies signature, signer and log inclusion for a claimed expected signer. Throws
 * SignatureCheckError with a human reason; returns the log evidence.
 */
export function verifyClaimed(
  bundle: Bundle,
  artifact: Buffer | undefined,
  claim: Exclude<Claim, { kind: 'foreign' }>,
  policy: ImagePolicy,
  trust: VerifierTrust,
): LogEvidence[] {
  const requireTlog = policy.requireTlog ?? true;
  const entries = bundle.verificationMaterial.tlogEntries;
  try {
    const entity = toSignedEntity(bundle, artifact);
    checkLoggedSigner(bundle, claim);
    if (claim.kind === 'key') {
      if (requireTlog && trust.logs.length === 0) {
        throw new SignatureCheckError('no transparency log key is configured to verify inclusion against');
      }
      if (requireTlog && entries.length === 0)
        throw new SignatureCheckError('the signature has no log entry');
      new Verifier(keyTrustMaterial(claim.key, trust.logs), {
        tlogThreshold: requireTlog ? 1 : 0,
        ctlogThreshold: 0,
        timestampThreshold: entity.timestamps.length > 0 ? 1 : 0,
      }).verify(entity);
    } else {
      if (trust.publicGoodRoot === undefined) {
        throw new SignatureCheckError('no trusted root is configured for keyless signatures');
      }
      new Verifier(rootTrustMaterial(trust.publicGoodRoot), { tlogThreshold: 1, ctlogThreshold: 1 }).verify(
        entity,
        {
          subjectAlternativeName: sanPolicyPattern(claim.identity.subjectAlternativeName),
          extensions: { issuer: claim.identity.issuer },
        },
      );
    }
  } catch (err) {
    if (err instanceof SignatureCheckError) throw err;
    // Whatever @sigstore/verify threw, over the bundle's JSON: read without assuming its shape.
    const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
    throw new SignatureCheckError(`${typeof code === 'string' ? `${code}: ` : ''}${errorMessage(err)}`);
  }
  return logEvidence(bundle);
}

/**
 * The signer as a finding names it (stored, shown, alerted): a SAN an identity pattern matched may be
 * as long as the certificate, so it is bounded. Nothing decides on it: the claim keeps the full SAN.
 */
export function signerName(claim: Exclude<Claim, { kind: 'foreign' }>): { signer: string; issuer?: string } {
  return claim.kind === 'key'
    ? { signer: claim.key.id }
    : { signer: boundText(claim.san), issuer: boundText(claim.issuer) };
}
