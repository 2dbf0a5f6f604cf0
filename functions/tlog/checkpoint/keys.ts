import { createHash, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import type { NoteSignature } from './note.ts';

/** Something that can check one signature line of a note. */
export interface NoteVerifier {
  /** Key name in the signature line; undefined means the origin's first word (Rekor v1 signs as its host). */
  name: string | undefined;
  keyHash: Buffer;
  verify(message: Buffer, signature: Buffer): boolean;
}

export interface NoteSigner {
  name: string;
  keyHash: Buffer;
  sign(message: Buffer): Buffer;
}

/** Signed-note algorithm byte for Ed25519 (c2sp.org/signed-note). */
const ALG_ED25519 = 0x01;

export type PublicKeyInput = KeyObject | string | Buffer;

export function toPublicKey(key: PublicKeyInput): KeyObject {
  if (typeof key === 'string') return createPublicKey(key);
  if (Buffer.isBuffer(key)) {
    // A bare 32-byte key is a raw Ed25519 key; anything else is DER SubjectPublicKeyInfo.
    if (key.length === 32) {
      const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), key]);
      return createPublicKey({ key: spki, format: 'der', type: 'spki' });
    }
    return createPublicKey({ key, format: 'der', type: 'spki' });
  }
  return key.type === 'private' ? createPublicKey(key) : key;
}

/** A key as canonical SPKI DER (read as toPublicKey reads it), so two encodings of one key compare equal. */
export function spkiDer(key: PublicKeyInput): Buffer {
  return toPublicKey(key).export({ format: 'der', type: 'spki' });
}

/** Rekor's log ID: SHA-256 of the DER public key (v1); its first four bytes are the note key hash. */
export function rekorLogId(key: PublicKeyInput): Buffer {
  return createHash('sha256').update(spkiDer(key)).digest();
}

/** Ed25519 note key ID per signed-note: SHA-256(name || "\n" || 0x01 || raw key). Rekor v2's log ID. */
export function ed25519NoteKeyId(name: string, key: PublicKeyInput): Buffer {
  const raw = spkiDer(key).subarray(-32);
  return createHash('sha256')
    .update(Buffer.from(`${name}\n`))
    .update(Buffer.from([ALG_ED25519]))
    .update(raw)
    .digest();
}

export function ed25519NoteVerifier(name: string, key: PublicKeyInput): NoteVerifier {
  const pub = toPublicKey(key);
  return {
    name,
    keyHash: ed25519NoteKeyId(name, pub).subarray(0, 4),
    verify: (message, signature) => safeVerify(() => verify(null, message, pub, signature)),
  };
}

/**
 * The `crypto.verify` (and `crypto.sign`) algorithm for a log key's signatures: null for Ed25519,
 * which signs the message itself (pure EdDSA), and SHA-256 for ECDSA and RSA (PKCS#1 v1.5), as
 * Rekor v1 signs its checkpoints (rekor pkg/util/signed_note.go) and its SETs. Rekor v1's
 * `verifySignedEntryTimestamp` takes it as well.
 */
export function logKeyVerifyAlgorithm(key: PublicKeyInput): 'sha256' | null {
  return toPublicKey(key).asymmetricKeyType === 'ed25519' ? null : 'sha256';
}

/**
 * Rekor v1 checkpoint verifier: the key hash is the log ID prefix, SHA-256(PKIX DER)[:4], whatever
 * the key type (rekor pkg/util/signed_note.go); the signature is ECDSA or RSA over SHA-256 or, for
 * an Ed25519 key, pure Ed25519 (see logKeyVerifyAlgorithm).
 */
export function rekorV1NoteVerifier(key: PublicKeyInput, name?: string): NoteVerifier {
  const pub = toPublicKey(key);
  const algorithm = logKeyVerifyAlgorithm(pub);
  return {
    name,
    keyHash: rekorLogId(pub).subarray(0, 4),
    verify: (message, signature) => safeVerify(() => verify(algorithm, message, pub, signature)),
  };
}

/** Picks the verifier that matches the key's type. */
export function noteVerifierForKey(key: PublicKeyInput, name?: string): NoteVerifier {
  const pub = toPublicKey(key);
  if (pub.asymmetricKeyType === 'ed25519') {
    if (name === undefined) throw new TypeError('an Ed25519 note verifier needs the key name');
    return ed25519NoteVerifier(name, pub);
  }
  return rekorV1NoteVerifier(pub, name);
}

export function ed25519NoteSigner(name: string, privateKey: KeyObject): NoteSigner {
  return {
    name,
    keyHash: ed25519NoteKeyId(name, privateKey).subarray(0, 4),
    sign: (message) => sign(null, message, privateKey),
  };
}

/** Rekor v1 style checkpoint signer (see rekorV1NoteVerifier), for any key type Rekor v1 signs with. */
export function rekorV1NoteSigner(name: string, privateKey: KeyObject): NoteSigner {
  const algorithm = logKeyVerifyAlgorithm(privateKey);
  return {
    name,
    keyHash: rekorLogId(privateKey).subarray(0, 4),
    sign: (message) => sign(algorithm, message, privateKey),
  };
}

export function signatureMatches(v: NoteVerifier, sig: NoteSignature, defaultName: string): boolean {
  return v.keyHash.equals(sig.keyHash) && (v.name ?? defaultName) === sig.name;
}

function safeVerify(run: () => boolean): boolean {
  try {
    return run();
  } catch {
    return false;
  }
}
