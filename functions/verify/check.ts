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
import { certificateIdentity } from '../tlog/entries/identity.ts';
import { parseEntryBody } from '../tlog/entries/parse.ts';
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

/** The public key (DER) the bundle's first log entry records, when the entry names one. */
function loggedKeyDer(bundle: Bundle): Buffer | undefined {
  const entry = bundle.verificationMaterial.tlogEntries[0];
  if (entry === undefined) return undefined;
  const parsed = parseEntryBody(Buffer.from(entry.canonicalizedBody));
  if (!parsed.ok || parsed.entry.verifier.type !== 'publicKey') return undefined;
  return parsed.entry.verifier.der;
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
 * Which expected signer a bundle claims. `trySignature` is the fallback for a key-signed bundle that
 * neither carries a known hint nor a logged key: the key it verifies under, if any.
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
    return {
      kind: 'foreign',
      reason: `signed by ${id.san ?? '(no identity)'} via ${id.issuer ?? '(no issuer)'}`,
    };
  }
  const content = bundle.verificationMaterial.content;
  if (content.$case === 'publicKey') {
    const byHint = policy.keys.find((k) => k.hint === content.publicKey.hint);
    if (byHint !== undefined) return { kind: 'key', key: byHint };
  }
  const logged = loggedKeyDer(bundle);
  if (logged !== undefined) {
    const byLog = policy.keys.find((k) => k.der.equals(logged));
    if (byLog !== undefined) return { kind: 'key', key: byLog };
    return { kind: 'foreign', reason: 'signed by a key the policy does not name' };
  }
  const bySignature = trySignature === undefined ? undefined : policy.keys.find(trySignature);
  if (bySignature !== undefined) return { kind: 'key', key: bySignature };
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
          subjectAlternativeName: claim.identity.subjectAlternativeName,
          extensions: { issuer: claim.identity.issuer },
        },
      );
    }
  } catch (err) {
    if (err instanceof SignatureCheckError) throw err;
    const code = (err as { code?: unknown }).code;
    throw new SignatureCheckError(`${typeof code === 'string' ? `${code}: ` : ''}${(err as Error).message}`);
  }
  return logEvidence(bundle);
}

export function signerName(claim: Exclude<Claim, { kind: 'foreign' }>): { signer: string; issuer?: string } {
  return claim.kind === 'key' ? { signer: claim.key.id } : { signer: claim.san, issuer: claim.issuer };
}
