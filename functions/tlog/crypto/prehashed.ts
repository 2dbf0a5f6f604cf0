import { constants, createPublicKey, type KeyObject, publicDecrypt } from 'node:crypto';

/**
 * Verifies a signature over a message digest the verifier never sees the message of (Rekor's
 * hashedrekord holds only the digest). Node's crypto hashes the message itself, so ECDSA is done
 * here with BigInt arithmetic (public data only: no secret, so constant time does not matter) and
 * RSA PKCS#1 v1.5 by recovering the DigestInfo.
 */
export function verifyPrehashed(
  key: KeyObject,
  digestAlgorithm: string,
  digest: Buffer,
  signature: Buffer,
): boolean {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  try {
    if (pub.asymmetricKeyType === 'ec') return verifyEcdsa(pub, digest, signature);
    if (pub.asymmetricKeyType === 'rsa') return verifyRsaPkcs1(pub, digestAlgorithm, digest, signature);
    return false;
  } catch {
    return false;
  }
}

const DIGEST_INFO_PREFIX: Record<string, string> = {
  sha256: '3031300d060960864801650304020105000420',
  sha384: '3041300d060960864801650304020205000430',
  sha512: '3051300d060960864801650304020305000440',
};

function verifyRsaPkcs1(key: KeyObject, alg: string, digest: Buffer, signature: Buffer): boolean {
  const prefix = DIGEST_INFO_PREFIX[alg];
  if (prefix === undefined) return false;
  const info = publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, signature);
  return info.equals(Buffer.concat([Buffer.from(prefix, 'hex'), digest]));
}

interface Curve {
  p: bigint;
  n: bigint;
  gx: bigint;
  gy: bigint;
  bits: number;
}

const CURVES: Record<string, Curve> = {
  'P-256': {
    p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
    n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    gx: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
    gy: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
    bits: 256,
  },
  'P-384': {
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    gx: 0xaa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7n,
    gy: 0x3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5fn,
    bits: 384,
  },
  'P-521': {
    p: (1n << 521n) - 1n,
    n: 0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
    gx: 0x00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66n,
    gy: 0x011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650n,
    bits: 521,
  },
};

type Jacobian = [bigint, bigint, bigint];
const INFINITY: Jacobian = [0n, 1n, 0n];

const mod = (a: bigint, m: bigint): bigint => {
  const r = a % m;
  return r < 0n ? r + m : r;
};

function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [mod(a, m), m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return mod(oldS, m);
}

// Jacobian doubling and addition for curves with a = -3 (all NIST prime curves).
function double(P: Jacobian, p: bigint): Jacobian {
  const [X, Y, Z] = P;
  if (Z === 0n || Y === 0n) return INFINITY;
  const delta = (Z * Z) % p;
  const gamma = (Y * Y) % p;
  const beta = (X * gamma) % p;
  const alpha = mod(3n * (X - delta) * (X + delta), p);
  const X3 = mod(alpha * alpha - 8n * beta, p);
  const Z3 = mod((Y + Z) * (Y + Z) - gamma - delta, p);
  const Y3 = mod(alpha * (4n * beta - X3) - 8n * gamma * gamma, p);
  return [X3, Y3, Z3];
}

function add(P: Jacobian, Q: Jacobian, p: bigint): Jacobian {
  if (P[2] === 0n) return Q;
  if (Q[2] === 0n) return P;
  const [X1, Y1, Z1] = P;
  const [X2, Y2, Z2] = Q;
  const Z1Z1 = (Z1 * Z1) % p;
  const Z2Z2 = (Z2 * Z2) % p;
  const U1 = (X1 * Z2Z2) % p;
  const U2 = (X2 * Z1Z1) % p;
  const S1 = (Y1 * Z2 * Z2Z2) % p;
  const S2 = (Y2 * Z1 * Z1Z1) % p;
  if (U1 === U2) return S1 === S2 ? double(P, p) : INFINITY;
  const H = mod(U2 - U1, p);
  const R = mod(S2 - S1, p);
  const HH = (H * H) % p;
  const HHH = (H * HH) % p;
  const X3 = mod(R * R - HHH - 2n * U1 * HH, p);
  const Y3 = mod(R * (U1 * HH - X3) - S1 * HHH, p);
  const Z3 = (H * Z1 * Z2) % p;
  return [X3, Y3, Z3];
}

/** u1·G + u2·Q with Shamir's trick. */
function twoScalarMul(u1: bigint, G: Jacobian, u2: bigint, Q: Jacobian, p: bigint): Jacobian {
  const GQ = add(G, Q, p);
  let R = INFINITY;
  const bits = Math.max(u1.toString(2).length, u2.toString(2).length);
  for (let i = bits - 1; i >= 0; i--) {
    R = double(R, p);
    const b1 = (u1 >> BigInt(i)) & 1n;
    const b2 = (u2 >> BigInt(i)) & 1n;
    if (b1 && b2) R = add(R, GQ, p);
    else if (b1) R = add(R, G, p);
    else if (b2) R = add(R, Q, p);
  }
  return R;
}

const toBig = (b: Buffer): bigint => (b.length === 0 ? 0n : BigInt(`0x${b.toString('hex')}`));

/** Minimal DER ECDSA-Sig-Value parser: SEQUENCE { INTEGER r, INTEGER s }. */
function parseDerSignature(sig: Buffer): [bigint, bigint] {
  let i = 0;
  const readLen = (): number => {
    let len = sig[i++]!;
    if (len & 0x80) {
      const count = len & 0x7f;
      len = 0;
      for (let k = 0; k < count; k++) len = len * 256 + sig[i++]!;
    }
    return len;
  };
  if (sig[i++] !== 0x30) throw new Error('not a sequence');
  const seqLen = readLen();
  if (i + seqLen !== sig.length) throw new Error('trailing bytes');
  const ints: bigint[] = [];
  for (let k = 0; k < 2; k++) {
    if (sig[i++] !== 0x02) throw new Error('not an integer');
    const len = readLen();
    ints.push(toBig(sig.subarray(i, i + len)));
    i += len;
  }
  if (i !== sig.length) throw new Error('trailing bytes');
  return [ints[0]!, ints[1]!];
}

function verifyEcdsa(key: KeyObject, digest: Buffer, signature: Buffer): boolean {
  const jwk = key.export({ format: 'jwk' });
  const curve = CURVES[jwk.crv ?? ''];
  if (curve === undefined || jwk.x === undefined || jwk.y === undefined) return false;
  const { p, n } = curve;
  const [r, s] = parseDerSignature(signature);
  if (r <= 0n || r >= n || s <= 0n || s >= n) return false;
  let e = toBig(digest);
  const excess = digest.length * 8 - curve.bits;
  if (excess > 0) e >>= BigInt(excess);
  const w = modInverse(s, n);
  const u1 = mod(e * w, n);
  const u2 = mod(r * w, n);
  const Q: Jacobian = [toBig(Buffer.from(jwk.x, 'base64url')), toBig(Buffer.from(jwk.y, 'base64url')), 1n];
  const R = twoScalarMul(u1, [curve.gx, curve.gy, 1n], u2, Q, p);
  if (R[2] === 0n) return false;
  const zInv = modInverse(R[2], p);
  const x = mod(R[0] * zInv * zInv, p);
  return mod(x, n) === r;
}
