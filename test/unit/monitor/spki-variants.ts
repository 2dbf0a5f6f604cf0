/**
 * Re-encodings of one SubjectPublicKeyInfo that Go's crypto/x509 (Rekor v1, rekor-tiles) parses
 * as the same key: encoding/asn1 ignores elements appended to a SEQUENCE it reads into a struct
 * (SubjectPublicKeyInfo, AlgorithmIdentifier), and the RSAPublicKey reader ignores them too.
 */
import { readTlv, type Tlv, encodeTlv as tlv } from '../../../functions/monitor-log/der.ts';

const SEQUENCE = 0x30;
const EXTRA = Buffer.from([0x05, 0x00]); // a NULL
const RSA_ENCRYPTION = Buffer.from('06092a864886f70d010101', 'hex');

function children(buf: Buffer, parent: Tlv): Buffer[] {
  const out: Buffer[] = [];
  for (let pos = parent.contentStart; pos < parent.end; ) {
    const child = readTlv(buf, pos);
    out.push(buf.subarray(child.start, child.end));
    pos = child.end;
  }
  return out;
}

/** [algorithm, subjectPublicKey] of a canonical SPKI. */
function parts(spki: Buffer): [Buffer, Buffer] {
  const [algorithm, key] = children(spki, readTlv(spki, 0));
  return [algorithm!, key!];
}

export function withTrailingElement(spki: Buffer): Buffer {
  return tlv(SEQUENCE, ...parts(spki), EXTRA);
}

/** An element after the AlgorithmIdentifier's parameters (keys whose algorithm has them). */
export function withAlgorithmTrailingElement(spki: Buffer): Buffer {
  const [algorithm, key] = parts(spki);
  return tlv(SEQUENCE, tlv(SEQUENCE, ...children(algorithm, readTlv(algorithm, 0)), EXTRA), key);
}

/** An element after the exponent inside an RSA key's RSAPublicKey. */
export function withRsaKeyTrailingElement(spki: Buffer): Buffer {
  const [algorithm, key] = parts(spki);
  if (!algorithm.includes(RSA_ENCRYPTION)) throw new Error('not an RSA key');
  const rsaKey = key.subarray(readTlv(key, 0).contentStart + 1);
  const inner = tlv(SEQUENCE, ...children(rsaKey, readTlv(rsaKey, 0)), EXTRA);
  return tlv(SEQUENCE, algorithm, tlv(0x03, Buffer.from([0]), inner));
}

/** The same DER with its outermost length in a needlessly long form (which Go refuses). */
export function withLongFormLength(spki: Buffer): Buffer {
  const outer = readTlv(spki, 0);
  const length = outer.end - outer.contentStart;
  return Buffer.concat([
    Buffer.from([SEQUENCE, 0x83, length >> 16, (length >> 8) & 0xff, length & 0xff]),
    spki.subarray(outer.contentStart),
  ]);
}

/** The subjectPublicKey BIT STRING's content: [unused-bits count, ...key bytes]. */
function keyBits(spki: Buffer): { algorithm: Buffer; key: Buffer } {
  const [algorithm, bits] = parts(spki);
  return { algorithm, key: bits.subarray(readTlv(bits, 0).contentStart + 1) };
}

/** Whether the key's top `n` bits are zero, so that withUnusedBits(spki, n) can shift them out. */
export function canShiftKey(spki: Buffer, n: number): boolean {
  return keyBits(spki).key[0]! >> (8 - n) === 0;
}

/**
 * The same key with `n` (1..7) unused bits declared and the key bits shifted left by `n`: Go's
 * crypto/x509 reads it with BitString.RightAlign() (parser.go parsePublicKey), so it is the same key.
 */
export function withUnusedBits(spki: Buffer, n: number): Buffer {
  const { algorithm, key } = keyBits(spki);
  if (!canShiftKey(spki, n)) throw new Error(`the key's top ${n} bits are not zero`);
  const shifted = Buffer.alloc(key.length);
  for (let i = 0; i < key.length; i++)
    shifted[i] = ((key[i]! << n) | (i + 1 < key.length ? key[i + 1]! >> (8 - n) : 0)) & 0xff;
  return tlv(SEQUENCE, algorithm, tlv(0x03, Buffer.from([n]), shifted));
}

/** The key bytes unchanged under a BIT STRING header declaring `count` unused bits (Go refuses 8+, and non-zero padding). */
export function withUnusedBitsCount(spki: Buffer, count: number): Buffer {
  const { algorithm, key } = keyBits(spki);
  return tlv(SEQUENCE, algorithm, tlv(0x03, Buffer.from([count]), key));
}
