/**
 * The Cloud KMS asymmetric signing algorithms the emulator serves, and how each one turns a digest
 * (what a client sends to AsymmetricSign) into a signature. Node's crypto.sign always hashes its
 * input, and a KMS only ever sees the digest, so the pre-hashed forms are built here: PKCS#1 v1.5
 * and PSS encodings over raw RSA, and ECDSA from its defining equation. This file deliberately
 * shares no code with functions/signing: the emulator is the independent party the signer is
 * tested against.
 */
import crypto, { type KeyObject } from 'node:crypto';

export type HashName = 'sha256' | 'sha384' | 'sha512';

export interface SigningAlgorithm {
  readonly name: string;
  readonly kind: 'ec' | 'rsa-pkcs1' | 'rsa-pss' | 'ed25519';
  /** The digest AsymmetricSign expects; undefined for Ed25519, which signs the data itself. */
  readonly hash?: HashName;
  readonly curve?: 'P-256' | 'P-384';
  readonly modulusBits?: number;
}

const table: SigningAlgorithm[] = [
  { name: 'EC_SIGN_P256_SHA256', kind: 'ec', hash: 'sha256', curve: 'P-256' },
  { name: 'EC_SIGN_P384_SHA384', kind: 'ec', hash: 'sha384', curve: 'P-384' },
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

export const SIGNING_ALGORITHMS: ReadonlyMap<string, SigningAlgorithm> = new Map(
  table.map((a) => [a.name, a]),
);

export const DIGEST_LENGTH: Record<HashName, number> = { sha256: 32, sha384: 48, sha512: 64 };

export async function generateKeyPair(
  alg: SigningAlgorithm,
): Promise<{ privatePem: string; publicPem: string }> {
  const encoding = {
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  } as const;
  const pair = await new Promise<{ publicKey: string; privateKey: string }>((resolve, reject) => {
    const done = (err: Error | null, publicKey: string, privateKey: string) =>
      err ? reject(err) : resolve({ publicKey, privateKey });
    if (alg.kind === 'ec') crypto.generateKeyPair('ec', { namedCurve: alg.curve!, ...encoding }, done);
    else if (alg.kind === 'ed25519') crypto.generateKeyPair('ed25519', encoding, done);
    else
      crypto.generateKeyPair(
        'rsa',
        { modulusLength: alg.modulusBits!, publicExponent: 65537, ...encoding },
        done,
      );
  });
  return { privatePem: pair.privateKey, publicPem: pair.publicKey };
}

/** Signs a digest (or, for Ed25519, the data) the way Cloud KMS does for `alg`. */
export function signPrehashed(alg: SigningAlgorithm, privateKey: KeyObject, input: Buffer): Buffer {
  switch (alg.kind) {
    case 'ed25519':
      return crypto.sign(null, input, privateKey);
    case 'rsa-pkcs1':
      return crypto.privateEncrypt(
        { key: privateKey, padding: crypto.constants.RSA_PKCS1_PADDING },
        Buffer.concat([DIGEST_INFO_PREFIX[alg.hash!], input]),
      );
    case 'rsa-pss':
      return crypto.privateEncrypt(
        { key: privateKey, padding: crypto.constants.RSA_NO_PADDING },
        emsaPssEncode(alg.hash!, input, alg.modulusBits! - 1),
      );
    case 'ec':
      return ecdsaSignDigest(alg.curve!, privateKey, input);
  }
}

// DER DigestInfo prefixes, RFC 8017 section 9.2 note 1.
const DIGEST_INFO_PREFIX: Record<HashName, Buffer> = {
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha384: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  sha512: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

function mgf1(hash: HashName, seed: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  for (let counter = 0, have = 0; have < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    const block = crypto.createHash(hash).update(seed).update(c).digest();
    out.push(block);
    have += block.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

// EMSA-PSS-ENCODE (RFC 8017 section 9.1.1), MGF1 with the same hash, salt as long as the digest:
// the parameters Cloud KMS documents for its RSA_SIGN_PSS_* algorithms.
function emsaPssEncode(hash: HashName, mHash: Buffer, emBits: number): Buffer {
  const hLen = DIGEST_LENGTH[hash];
  const emLen = Math.ceil(emBits / 8);
  const salt = crypto.randomBytes(hLen);
  const h = crypto
    .createHash(hash)
    .update(Buffer.concat([Buffer.alloc(8), mHash, salt]))
    .digest();
  const db = Buffer.concat([Buffer.alloc(emLen - 2 * hLen - 2), Buffer.from([1]), salt]);
  const mask = mgf1(hash, h, emLen - hLen - 1);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= 0xff >> (8 * emLen - emBits);
  return Buffer.concat([db, h, Buffer.from([0xbc])]);
}

const CURVE_ORDER: Record<'P-256' | 'P-384', bigint> = {
  'P-256': 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  'P-384':
    0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
};

const toBigInt = (b: Buffer): bigint => (b.length === 0 ? 0n : BigInt(`0x${b.toString('hex')}`));

function modPow(base: bigint, exp: bigint, m: bigint): bigint {
  let result = 1n;
  let b = base % m;
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % m;
    b = (b * b) % m;
  }
  return result;
}

// ECDSA over a given digest. The nonce k and the x coordinate of k*G come from a fresh key pair of
// the same curve, so no point arithmetic is needed here; the rest is the FIPS 186 equation.
function ecdsaSignDigest(curve: 'P-256' | 'P-384', privateKey: KeyObject, digest: Buffer): Buffer {
  const n = CURVE_ORDER[curve];
  const d = toBigInt(Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url'));
  const z = toBigInt(digest); // digest length equals the order length for both curves
  for (;;) {
    const eph = crypto.generateKeyPairSync('ec', { namedCurve: curve }).privateKey.export({ format: 'jwk' });
    const k = toBigInt(Buffer.from(eph.d!, 'base64url'));
    const r = toBigInt(Buffer.from(eph.x!, 'base64url')) % n;
    if (r === 0n) continue;
    const s = (modPow(k, n - 2n, n) * ((z + r * d) % n)) % n;
    if (s === 0n) continue;
    return derSignature(r, s);
  }
}

function derInteger(v: bigint): Buffer {
  let hex = v.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
}

function derSignature(r: bigint, s: bigint): Buffer {
  const body = Buffer.concat([derInteger(r), derInteger(s)]);
  // P-384 signatures can exceed 127 bytes: long-form length.
  const len = body.length < 0x80 ? Buffer.from([body.length]) : Buffer.from([0x81, body.length]);
  return Buffer.concat([Buffer.from([0x30]), len, body]);
}
