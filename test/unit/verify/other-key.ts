/**
 * Test helper: the second P-256 public key an ECDSA signature verifies under. Given (r, s) by key Q over
 * message m, Q' = r⁻¹(s·R' − z·G), where R' is the other curve point with x = r, verifies it too. Anyone
 * can compute Q' from a public signature, and a transparency log accepts the signature under it.
 */
import crypto, { type KeyObject } from 'node:crypto';

type Point = readonly [bigint, bigint] | null;

const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const A = P - 3n;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;
const G: Point = [
  0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
  0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
];

const mod = (x: bigint, m: bigint) => ((x % m) + m) % m;

function pow(base: bigint, exponent: bigint, m: bigint): bigint {
  let result = 1n;
  let x = mod(base, m);
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * x) % m;
    x = (x * x) % m;
  }
  return result;
}

const inverse = (x: bigint, m: bigint) => pow(x, m - 2n, m);

function add(p1: Point, p2: Point): Point {
  if (p1 === null) return p2;
  if (p2 === null) return p1;
  const [x1, y1] = p1;
  const [x2, y2] = p2;
  if (x1 === x2 && mod(y1 + y2, P) === 0n) return null;
  const slope =
    x1 === x2 ? mod((3n * x1 * x1 + A) * inverse(2n * y1, P), P) : mod((y2 - y1) * inverse(x2 - x1, P), P);
  const x3 = mod(slope * slope - x1 - x2, P);
  return [x3, mod(slope * (x1 - x3) - y1, P)];
}

function multiply(k: bigint, point: Point): Point {
  let result: Point = null;
  let addend = point;
  for (let e = mod(k, N); e > 0n; e >>= 1n) {
    if (e & 1n) result = add(result, addend);
    addend = add(addend, addend);
  }
  return result;
}

/** r and s of a DER ECDSA-Sig-Value. */
function rs(signature: Buffer): [bigint, bigint] {
  const integer = (at: number) => {
    const length = signature[at + 1]!;
    return {
      value: BigInt(`0x${signature.subarray(at + 2, at + 2 + length).toString('hex')}`),
      end: at + 2 + length,
    };
  };
  const r = integer(2);
  return [r.value, integer(r.end).value];
}

const coordinate = (v: bigint) => Buffer.from(v.toString(16).padStart(64, '0'), 'hex').toString('base64url');

/** A P-256 key other than `known` that `signature` (DER, over SHA-256 of `message`) verifies under. */
export function otherVerifyingKey(message: Buffer, signature: Buffer, known: KeyObject): KeyObject {
  const [r, s] = rs(signature);
  const z = BigInt(`0x${crypto.createHash('sha256').update(message).digest('hex')}`);
  const y = pow(mod(r ** 3n + A * r + B, P), (P + 1n) / 4n, P);
  const knownDer = known.export({ type: 'spki', format: 'der' });
  for (const ry of [y, P - y]) {
    const q = multiply(inverse(r, N), add(multiply(s, [r, ry]), multiply(N - z, G)));
    if (q === null) continue;
    const jwk = { kty: 'EC', crv: 'P-256', x: coordinate(q[0]), y: coordinate(q[1]) };
    const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
    if (key.export({ type: 'spki', format: 'der' }).equals(knownDer)) continue;
    if (crypto.verify('sha256', message, key, signature)) return key;
  }
  throw new Error('no other key verifies the signature');
}
