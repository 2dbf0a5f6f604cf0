/**
 * The key hint of a public key: what a Sigstore bundle's `verificationMaterial.publicKey.hint` and its
 * DSSE signature's `keyid` say (@sigstore/sign writes the signer's hint to both).
 *
 * sigstore-go (pkg/verify/signature.go) verifies a DSSE envelope through go-securesystemslib's
 * dsse/verify.go with a verifier that has no key ID of its own, which then takes
 * `SHA256KeyID(pub)`: golang.org/x/crypto/ssh `FingerprintSHA256(NewPublicKey(pub))`, i.e.
 * `SHA256:` + unpadded standard base64 of SHA-256 over the key's SSH wire encoding. A signature whose
 * keyid is neither empty nor that value is skipped, and the envelope fails ("Accepted signatures do not
 * match threshold"). So sigsentry signs with that fingerprint as its hint, as npm's key-signed bundles
 * do; cosign 3 and sigstore-go then check the signature.
 *
 * Until 2026-12-03 sigsentry's hint was base64(SHA-256(DER SubjectPublicKeyInfo)) (legacyKeyHint),
 * which cosign 3 and sigstore-go refuse (found by review). Bundles already attached keep it: sigsentry's
 * verifier still accepts both forms, and decides on the key itself, never on the hint.
 */
import crypto, { type KeyObject } from 'node:crypto';

/** RFC 4251 section 5 `string`: uint32 length, then the bytes. */
function sshString(bytes: Uint8Array): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/**
 * RFC 4251 section 5 `mpint` of a non-negative big-endian magnitude: no unnecessary leading zero bytes,
 * a zero byte before a first byte with its high bit set (two's complement), zero as the empty string.
 */
export function sshMpint(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length && magnitude[start] === 0) start++;
  const bytes = Buffer.from(magnitude.subarray(start));
  if (bytes.length === 0) return sshString(bytes);
  return sshString((bytes[0]! & 0x80) === 0 ? bytes : Buffer.concat([Buffer.from([0]), bytes]));
}

/** RFC 5656 section 10.1 curve identifiers, and the field size of each in bytes. */
const NIST_CURVES: Record<string, { id: string; bytes: number }> = {
  'P-256': { id: 'nistp256', bytes: 32 },
  'P-384': { id: 'nistp384', bytes: 48 },
  'P-521': { id: 'nistp521', bytes: 66 },
};

function fixedLength(value: string, bytes: number): Buffer {
  const raw = Buffer.from(value, 'base64url');
  if (raw.length > bytes) throw new Error(`EC coordinate longer than ${bytes} bytes`);
  return Buffer.concat([Buffer.alloc(bytes - raw.length), raw]);
}

/**
 * The public key in the SSH wire format golang.org/x/crypto/ssh marshals it to:
 * - ECDSA (RFC 5656 section 3.1): string "ecdsa-sha2-nistpN", string "nistpN", string Q, Q the
 *   uncompressed point 0x04 || X || Y (SEC 1 section 2.3.3, as Go's elliptic.Marshal writes it);
 * - RSA (RFC 4253 section 6.6): string "ssh-rsa", mpint e, mpint n;
 * - Ed25519 (RFC 8709 section 4): string "ssh-ed25519", string the 32-byte key.
 * Any other key (or curve) has no SSH encoding: an error.
 */
export function sshPublicKeyWire(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = NIST_CURVES[String(jwk.crv)];
      if (curve === undefined || jwk.x === undefined || jwk.y === undefined) {
        throw new Error(`no SSH encoding for an EC key on curve ${String(jwk.crv)}`);
      }
      const point = Buffer.concat([
        Buffer.from([0x04]),
        fixedLength(jwk.x, curve.bytes),
        fixedLength(jwk.y, curve.bytes),
      ]);
      return Buffer.concat([
        sshString(Buffer.from(`ecdsa-sha2-${curve.id}`)),
        sshString(Buffer.from(curve.id)),
        sshString(point),
      ]);
    }
    case 'rsa': {
      if (jwk.e === undefined || jwk.n === undefined) throw new Error('RSA key without e or n');
      return Buffer.concat([
        sshString(Buffer.from('ssh-rsa')),
        sshMpint(Buffer.from(jwk.e, 'base64url')),
        sshMpint(Buffer.from(jwk.n, 'base64url')),
      ]);
    }
    case 'ed25519': {
      if (jwk.x === undefined) throw new Error('Ed25519 key without x');
      return Buffer.concat([
        sshString(Buffer.from('ssh-ed25519')),
        sshString(Buffer.from(jwk.x, 'base64url')),
      ]);
    }
    default:
      throw new Error(`no SSH encoding for a ${String(key.asymmetricKeyType)} key`);
  }
}

/**
 * `SHA256:` + unpadded standard base64 of SHA-256 over the SSH wire encoding: ssh.FingerprintSHA256,
 * the key ID go-securesystemslib (dsse.SHA256KeyID) and so sigstore-go and cosign 3 expect in a DSSE
 * signature's keyid. sigsentry's key hint.
 */
export function sshKeyId(key: KeyObject): string {
  const digest = crypto.createHash('sha256').update(sshPublicKeyWire(key)).digest('base64');
  return `SHA256:${digest.replace(/=+$/, '')}`;
}

/**
 * base64(SHA-256(DER SubjectPublicKeyInfo)): the hint of bundles sigsentry attached until
 * 2026-12-03, and how a logged key is named in a verdict's reasons.
 */
export function legacyKeyHint(spkiDer: Uint8Array): string {
  return crypto.createHash('sha256').update(spkiDer).digest('base64');
}

/** Every hint a bundle may name `key` by: the SSH fingerprint sigsentry signs with, and the legacy form. */
export function keyHints(
  key: KeyObject,
  spkiDer: Uint8Array = key.export({ type: 'spki', format: 'der' }),
): string[] {
  const hints = [legacyKeyHint(spkiDer)];
  try {
    hints.unshift(sshKeyId(key));
  } catch {
    // A key SSH cannot encode (another curve): only its legacy hint names it.
  }
  return hints;
}
