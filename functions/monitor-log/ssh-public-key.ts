/**
 * The key of a rekord `ssh` entry (`ssh-keygen -Y sign` signatures). Rekor reads the key with
 * x/crypto/ssh ParseAuthorizedKey and stores MarshalAuthorizedKey's form, `<type> <base64 blob>`;
 * a comment or authorized_keys options before the type are tolerated as ParseAuthorizedKey does.
 * The blob is RFC 4253 wire format: every field a uint32 length and its bytes. Covered are all
 * the types ParseAuthorizedKey accepts: RSA, DSA, ECDSA P-256/384/521, Ed25519, the FIDO `sk-`
 * variants and OpenSSH certificates of each (the certified key is the one that signed, as in
 * rekor's pki/ssh Identities).
 */
import { dsaSpki, ecPointSpki, ed25519Spki, type NistCurve, rsaSpki, UnreadableKey } from './raw-key-spki.ts';

const WHAT = 'ssh public key';

/** Reads RFC 4253 `string` fields off a blob. */
class WireReader {
  private offset = 0;
  private readonly blob: Buffer;

  constructor(blob: Buffer) {
    this.blob = blob;
  }

  bytes(): Buffer {
    if (this.offset + 4 > this.blob.length) throw new UnreadableKey(`${WHAT}: truncated`);
    const length = this.blob.readUInt32BE(this.offset);
    const start = this.offset + 4;
    if (start + length > this.blob.length) throw new UnreadableKey(`${WHAT}: truncated`);
    this.offset = start + length;
    return this.blob.subarray(start, this.offset);
  }

  text(): string {
    return this.bytes().toString('latin1');
  }
}

const CURVES: Record<string, NistCurve> = { nistp256: 'P-256', nistp384: 'P-384', nistp521: 'P-521' };

const CERT_SUFFIX = '-cert-v01@openssh.com';

/** SPKI DER of the key fields that follow the type (and, for a certificate, its nonce). */
function keyFieldsSpki(type: string, r: WireReader): Buffer {
  if (type.endsWith(CERT_SUFFIX)) {
    r.bytes(); // nonce
    // sk-ssh-ed25519-cert-v01@openssh.com certifies sk-ssh-ed25519@openssh.com
    const base = type.slice(0, -CERT_SUFFIX.length) + (type.startsWith('sk-') ? '@openssh.com' : '');
    return keyFieldsSpki(base, r);
  }
  switch (type) {
    case 'ssh-rsa': {
      const e = r.bytes();
      return rsaSpki(r.bytes(), e, WHAT);
    }
    case 'ssh-dss':
      return dsaSpki(r.bytes(), r.bytes(), r.bytes(), r.bytes(), WHAT);
    case 'ssh-ed25519':
    case 'sk-ssh-ed25519@openssh.com':
      return ed25519Spki(r.bytes(), WHAT);
    case 'ecdsa-sha2-nistp256':
    case 'ecdsa-sha2-nistp384':
    case 'ecdsa-sha2-nistp521':
    case 'sk-ecdsa-sha2-nistp256@openssh.com': {
      const name = r.text();
      const curve = CURVES[name];
      if (curve === undefined || !type.includes(name)) {
        throw new UnreadableKey(`${WHAT}: curve ${name} does not fit ${type}`);
      }
      return ecPointSpki(curve, r.bytes(), WHAT);
    }
    default:
      throw new UnreadableKey(`${WHAT}: unsupported key type ${type}`);
  }
}

/** SPKI DER of the first `<type> <base64 blob>` pair in authorized_keys text. */
export function sshPublicKeySpki(text: string): Buffer {
  const words = text.trim().split(/\s+/);
  for (let i = 0; i + 1 < words.length; i++) {
    const type = words[i]!;
    const blob = Buffer.from(words[i + 1]!, 'base64');
    if (blob.length < 4) continue;
    const r = new WireReader(blob);
    let blobType: string;
    try {
      blobType = r.text();
    } catch {
      continue;
    }
    // The blob names its own type; a word that merely looks like base64 does not.
    if (blobType === type) return keyFieldsSpki(type, r);
  }
  throw new UnreadableKey(`${WHAT}: no "<type> <base64 key>" in the key text`);
}
