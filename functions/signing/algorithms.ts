/**
 * The Cloud KMS signing algorithms sigsentry reads (the ones cosign supports, plus Ed25519), what
 * each one hashes with, and how to verify its signatures with Node crypto. Anything else, such as a
 * decryption key or secp256k1, is refused before a single request is sent. Of these, sigsentry
 * signs only with SIGNING_ALGORITHMS (below); the others are read, for verification, and never
 * signed with.
 */
import crypto, { type KeyObject } from 'node:crypto';

export type HashName = 'sha256' | 'sha384' | 'sha512';

export interface KmsSigningAlgorithm {
  readonly name: string;
  readonly kind: 'ecdsa' | 'rsa-pkcs1' | 'rsa-pss' | 'ed25519';
  /** The digest sent to asymmetricSign; undefined for Ed25519, which is sent the data itself. */
  readonly hash?: HashName;
  readonly curve?: 'prime256v1' | 'secp384r1';
  readonly modulusBits?: number;
}

const list: KmsSigningAlgorithm[] = [
  { name: 'EC_SIGN_P256_SHA256', kind: 'ecdsa', hash: 'sha256', curve: 'prime256v1' },
  { name: 'EC_SIGN_P384_SHA384', kind: 'ecdsa', hash: 'sha384', curve: 'secp384r1' },
  { name: 'RSA_SIGN_PKCS1_2048_SHA256', kind: 'rsa-pkcs1', hash: 'sha256', modulusBits: 2048 },
  { name: 'RSA_SIGN_PKCS1_3072_SHA256', kind: 'rsa-pkcs1', hash: 'sha256', modulusBits: 3072 },
  { name: 'RSA_SIGN_PKCS1_4096_SHA256', kind: 'rsa-pkcs1', hash: 'sha256', modulusBits: 4096 },
  { name: 'RSA_SIGN_PKCS1_4096_SHA512', kind: 'rsa-pkcs1', hash: 'sha512', modulusBits: 4096 },
  { name: 'RSA_SIGN_PSS_2048_SHA256', kind: 'rsa-pss', hash: 'sha256', modulusBits: 2048 },
  { name: 'RSA_SIGN_PSS_3072_SHA256', kind: 'rsa-pss', hash: 'sha256', modulusBits: 3072 },
  { name: 'RSA_SIGN_PSS_4096_SHA256', kind: 'rsa-pss', hash: 'sha256', modulusBits: 4096 },
  { name: 'RSA_SIGN_PSS_4096_SHA512', kind: 'rsa-pss', hash: 'sha512', modulusBits: 4096 },
  { name: 'EC_SIGN_ED25519', kind: 'ed25519' },
];

export const KMS_SIGNING_ALGORITHMS: ReadonlyMap<string, KmsSigningAlgorithm> = new Map(
  list.map((a) => [a.name, a]),
);

/**
 * The algorithms signOnPush signs with: those whose signatures both formats can log and cosign and
 * sigstore-js verify. @sigstore/sign 5.1 digests every message signature with SHA-256 (the bundle's
 * messageDigest, bundler/bundle.js) and records it as `sha256` in the hashedrekord entry
 * (witness/tlog/entry.js), so the log checks the cosign layout's signature over a SHA-256 digest;
 * cosign verifies a PEM key with SHA-256 (PKCS#1 v1.5 for RSA), and sigstore-js a DSSE envelope
 * with the key's default digest (SHA-256, PKCS#1 v1.5). That leaves ECDSA P-256 and RSA PKCS#1 v1.5
 * with SHA-256. P-384 (SHA-384), RSA SHA-512 and RSA-PSS signatures fail those checks, and an
 * Ed25519 signature (over the data, not a digest) cannot be checked against a hashedrekord digest:
 * the log refuses their entries (test/unit/kms/signing-algorithms.test.ts establishes this list).
 */
export const SIGNING_ALGORITHMS: readonly string[] = [
  'EC_SIGN_P256_SHA256',
  'RSA_SIGN_PKCS1_2048_SHA256',
  'RSA_SIGN_PKCS1_3072_SHA256',
  'RSA_SIGN_PKCS1_4096_SHA256',
];

/** Whether signOnPush may sign with a key version of this algorithm (see SIGNING_ALGORITHMS). */
export function isSigningAlgorithm(name: string): boolean {
  return SIGNING_ALGORITHMS.includes(name);
}

const DIGEST_LENGTH: Record<HashName, number> = { sha256: 32, sha384: 48, sha512: 64 };

/** Whether `key` is the kind of public key `alg` produces (curve, modulus size). */
export function keyMatchesAlgorithm(alg: KmsSigningAlgorithm, key: KeyObject): boolean {
  const details = key.asymmetricKeyDetails ?? {};
  switch (alg.kind) {
    case 'ecdsa':
      return key.asymmetricKeyType === 'ec' && details.namedCurve === alg.curve;
    case 'ed25519':
      return key.asymmetricKeyType === 'ed25519';
    case 'rsa-pkcs1':
    case 'rsa-pss':
      return key.asymmetricKeyType === 'rsa' && details.modulusLength === alg.modulusBits;
  }
}

/** Verifies a KMS signature over `data` (not its digest). KMS PSS uses a salt as long as the digest. */
export function verifyKmsSignature(
  alg: KmsSigningAlgorithm,
  publicKey: KeyObject,
  data: Buffer,
  signature: Buffer,
): boolean {
  switch (alg.kind) {
    case 'ed25519':
      return crypto.verify(null, data, publicKey, signature);
    case 'ecdsa':
      return crypto.verify(alg.hash!, data, { key: publicKey, dsaEncoding: 'der' }, signature);
    case 'rsa-pkcs1':
      return crypto.verify(
        alg.hash!,
        data,
        { key: publicKey, padding: crypto.constants.RSA_PKCS1_PADDING },
        signature,
      );
    case 'rsa-pss':
      return crypto.verify(
        alg.hash!,
        data,
        {
          key: publicKey,
          padding: crypto.constants.RSA_PKCS1_PSS_PADDING,
          saltLength: DIGEST_LENGTH[alg.hash!],
        },
        signature,
      );
  }
}
