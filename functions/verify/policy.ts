/**
 * Who must have signed an image: Cloud KMS key versions or PEM public keys (sigsentry's own
 * signatures), or a keyless identity and OIDC issuer checked against the public-good trusted root
 * (third-party images on the watchlist).
 */
import crypto, { type KeyObject } from 'node:crypto';
import { InvalidInputError } from '../errors.ts';
import { keyHints, legacyKeyHint } from '../signing/key-hint.ts';
import { type KmsApi, kmsPublicKey } from '../signing/kms-signer.ts';

export interface ExpectedKey {
  /** The KMS key version name, or `pem:<hint>` for a plain public key. */
  id: string;
  /** Set for KMS keys: its state is checked on every verification. */
  keyVersion?: string;
  publicKey: KeyObject;
  /**
   * base64(SHA-256(DER SubjectPublicKeyInfo)): the key's name in ids (`pem:<hint>`), alerts and stored
   * verdicts, kept as it was so they stay stable. Bundles sigsentry attached until 2026-12-03 carry it as
   * their hint; later ones carry the SSH fingerprint (signing/key-hint.ts). Both are in `hints`.
   */
  hint: string;
  /**
   * Every key hint a bundle may name this key by: the SSH SHA-256 fingerprint and the legacy `hint`. A
   * hint only says which expected key to verify with first: the signature and the key its log entry
   * records decide (check.ts), never the hint.
   */
  hints: readonly string[];
  der: Buffer;
}

export interface ExpectedIdentity {
  /** The certificate's subject alternative name: an email or URI, or a pattern. */
  subjectAlternativeName: string | RegExp;
  /** The OIDC issuer, exactly. */
  issuer: string;
}

export interface ImagePolicy {
  keys: ExpectedKey[];
  identities: ExpectedIdentity[];
  /**
   * Repositories (HOST/REPO) a signature may name in its `docker-reference` or statement subject besides
   * the image's own: a mirrored third-party image carries the reference it was signed under.
   */
  references?: string[];
  /** Refuse signatures without a transparency-log entry. Default true. */
  requireTlog?: boolean;
}

const KMS_PREFIX = 'gcpkms://';

export function expectedKeyFromPem(pem: string, keyVersion?: string): ExpectedKey {
  let publicKey: KeyObject;
  try {
    publicKey = crypto.createPublicKey(pem);
  } catch (err) {
    throw new InvalidInputError(`not a PEM public key: ${(err as Error).message}`);
  }
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const hint = legacyKeyHint(der);
  return {
    id: keyVersion ?? `pem:${hint}`,
    ...(keyVersion === undefined ? {} : { keyVersion }),
    publicKey,
    hint,
    hints: keyHints(publicKey, der),
    der,
  };
}

/** A KMS key version's resource name, as written or as a `gcpkms://` reference. */
export function kmsKeyResourceName(keyVersion: string): string {
  return keyVersion.startsWith(KMS_PREFIX) ? keyVersion.slice(KMS_PREFIX.length) : keyVersion;
}

/**
 * A KMS key version's public key (fetched with the CRC32C checks of kmsPublicKey), with the PEM and
 * algorithm name KMS gave (reverifyImages keeps them: reverify/kept-keys.ts).
 */
export async function expectedKeyFromKms(
  client: KmsApi,
  keyVersion: string,
): Promise<ExpectedKey & { pem: string; algorithm: string }> {
  const name = kmsKeyResourceName(keyVersion);
  const key = await kmsPublicKey(client, name);
  return { ...expectedKeyFromPem(key.pem, name), pem: key.pem, algorithm: key.algorithm.name };
}

export function isKmsKeyReference(value: string): boolean {
  return value.startsWith(KMS_PREFIX) || value.startsWith('projects/');
}

/** A policy's repositories as a set, the image's own included. */
export function acceptedReferences(policy: ImagePolicy, repository: string): Set<string> {
  return new Set([repository, ...(policy.references ?? [])]);
}

/** A short, stable description of the policy, stored with verdicts so a policy change invalidates the cache. */
export function policyId(policy: ImagePolicy): string {
  const parts = [
    ...policy.keys.map((k) => `key:${k.id}`).sort(),
    ...policy.identities.map((i) => `id:${String(i.subjectAlternativeName)}|${i.issuer}`).sort(),
    ...(policy.references ?? []).map((r) => `ref:${r}`).sort(),
    `tlog:${policy.requireTlog ?? true}`,
  ];
  return crypto.createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 16);
}
