/**
 * Canonical SubjectPublicKeyInfo DER for keys that a log entry carries in a non-PKIX encoding
 * (SSH, minisign, TUF hex). Owned keys are matched by the SHA-256 of their SPKI DER, so a foreign
 * key is rebuilt as a KeyObject and exported the way Node exports any SPKI: the same bytes the
 * owned identity was fingerprinted from. Node validates the parts (EC points must be on the
 * curve), so a malformed key throws UnreadableKey rather than yielding a fingerprint of garbage.
 */
import crypto, { type JsonWebKey, type KeyObject } from 'node:crypto';
import { canonicalSpki } from './canonical-spki.ts';

/** A key that is present in an entry but cannot be read: the entry is reported unreadable. */
export class UnreadableKey extends Error {}

const spki = (key: KeyObject): Buffer => key.export({ type: 'spki', format: 'der' });

function fromJwk(jwk: JsonWebKey, what: string): Buffer {
  try {
    return spki(crypto.createPublicKey({ key: jwk, format: 'jwk' }));
  } catch (err) {
    throw new UnreadableKey(`${what}: ${(err as Error).message}`);
  }
}

const b64u = (b: Buffer): string => b.toString('base64url');

/** JWK wants unsigned big-endian integers; SSH mpints may carry a leading zero byte. */
const unsigned = (b: Buffer): Buffer => {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
};

export type NistCurve = 'P-256' | 'P-384' | 'P-521';

const COORDINATE_BYTES: Record<NistCurve, number> = { 'P-256': 32, 'P-384': 48, 'P-521': 66 };

/** An uncompressed point (0x04 || X || Y), as SSH, TUF hex and PKIX all write it. */
export function ecPointSpki(curve: NistCurve, point: Buffer, what: string): Buffer {
  const n = COORDINATE_BYTES[curve];
  if (point.length !== 1 + 2 * n || point[0] !== 0x04) {
    throw new UnreadableKey(`${what}: not an uncompressed ${curve} point`);
  }
  return fromJwk(
    { kty: 'EC', crv: curve, x: b64u(point.subarray(1, 1 + n)), y: b64u(point.subarray(1 + n)) },
    what,
  );
}

export function ed25519Spki(raw: Buffer, what: string): Buffer {
  if (raw.length !== 32) throw new UnreadableKey(`${what}: an Ed25519 key is 32 bytes, not ${raw.length}`);
  return fromJwk({ kty: 'OKP', crv: 'Ed25519', x: b64u(raw) }, what);
}

export function rsaSpki(modulus: Buffer, exponent: Buffer, what: string): Buffer {
  return fromJwk({ kty: 'RSA', n: b64u(unsigned(modulus)), e: b64u(unsigned(exponent)) }, what);
}

// DSA has no JWK form in Node, so its SPKI is assembled by hand (RFC 3279 2.3.2) and then
// read back and re-exported, which both validates it and canonicalizes it.
const DSA_OID = Buffer.from('06072a8648ce380401', 'hex');

const derLength = (n: number): Buffer => {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
};
const tlv = (tag: number, ...body: Buffer[]): Buffer => {
  const content = Buffer.concat(body);
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
};
const derInteger = (value: Buffer): Buffer => {
  const u = unsigned(value);
  return tlv(0x02, (u[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), u]) : u);
};

export function dsaSpki(p: Buffer, q: Buffer, g: Buffer, y: Buffer, what: string): Buffer {
  const algorithm = tlv(0x30, DSA_OID, tlv(0x30, derInteger(p), derInteger(q), derInteger(g)));
  const der = tlv(0x30, algorithm, tlv(0x03, Buffer.from([0]), derInteger(y)));
  try {
    return spki(crypto.createPublicKey({ key: der, format: 'der', type: 'spki' }));
  } catch (err) {
    throw new UnreadableKey(`${what}: ${(err as Error).message}`);
  }
}

/**
 * The body of the first PEM block in `text` as Go's pem.Decode finds it (the first END line, the last
 * BEGIN line before it), whatever its type (go-tuf parses the block it decodes as a key, unlabelled),
 * or undefined. Two searches, linear in the text: a regular expression with a lazy body retried from
 * every BEGIN was quadratic in a keyval of many unterminated BEGIN lines (found by review).
 */
function firstPemBody(text: string): string | undefined {
  const end = text.indexOf('-----END ');
  if (end < 0) return undefined;
  const begin = text.lastIndexOf('-----BEGIN ', end);
  if (begin < 0) return undefined;
  const line = text.indexOf('\n', begin);
  return line < 0 || line > end ? undefined : text.slice(line + 1, end);
}

/**
 * A PEM public key (TUF keyval), re-exported so a non-canonical encoding still matches. OpenSSL
 * refuses a key whose BIT STRING declares unused bits, which Go's x509.ParsePKIXPublicKey
 * right-aligns and takes: such a PUBLIC KEY is read as Go reads it (canonicalSpki) before giving up.
 */
export function pemSpki(pem: string, what: string): Buffer {
  try {
    return spki(crypto.createPublicKey(pem));
  } catch (err) {
    const body = firstPemBody(pem);
    if (body !== undefined) {
      try {
        const der = canonicalSpki(Buffer.from(body.replace(/\s+/g, ''), 'base64'));
        return spki(crypto.createPublicKey({ key: der, format: 'der', type: 'spki' }));
      } catch {
        // not a key Go reads either: report what OpenSSL said
      }
    }
    throw new UnreadableKey(`${what}: ${(err as Error).message}`);
  }
}
