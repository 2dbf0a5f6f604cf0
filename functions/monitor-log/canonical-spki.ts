/**
 * A public key as its canonical DER SubjectPublicKeyInfo, so that an owned key is recognised
 * however an entry encodes it. Rekor stores keys and certificates as submitted, and Go's parsers
 * (Rekor v1, rekor-tiles) accept elements appended to the SubjectPublicKeyInfo, its
 * AlgorithmIdentifier or an RSAPublicKey, and ignore them: the same key can arrive as different
 * bytes. Canonical form keeps the algorithm (OID and parameters) and the key, drops anything
 * after them inside the SubjectPublicKeyInfo and uses the shortest lengths, which is what every
 * encoder (Go, OpenSSL, KMS) writes, so a SHA-256 of it is the usual key fingerprint
 * (rekor-monitor's, `openssl pkey`'s). Data after the SubjectPublicKeyInfo is refused, as Go
 * refuses it. The key's BIT STRING is read as Go reads it (cryptobyte ReadASN1BitString and
 * encoding/asn1 parseBitString, then parsePublicKey's `RightAlign()`): 1 to 7 unused bits with the
 * key shifted left by as many is the same key, written canonically with none; a count over 7, a
 * count on an empty string or padding bits that are not zero are refused, as Go refuses them.
 */
import { DerError, encodeTlv, hasMinimalHeader, readTlv, type Tlv } from './der.ts';

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const OID = 0x06;
/** rsaEncryption (1.2.840.113549.1.1.1), whose key is itself DER (RFC 3279 RSAPublicKey). */
const RSA_ENCRYPTION = Buffer.from('2a864886f70d010101', 'hex');

/** The TLV at `offset`, which must have `tag` and lie within `limit`. */
function element(buf: Buffer, offset: number, limit: number, tag: number, what: string): Tlv {
  if (offset >= limit) throw new DerError(`no ${what}`);
  const tlv = readTlv(buf, offset);
  if (tlv.tag !== tag || tlv.end > limit) throw new DerError(`bad ${what}`);
  return tlv;
}

const content = (buf: Buffer, tlv: Tlv) => buf.subarray(tlv.contentStart, tlv.end);
// Length first: EC and Ed25519 OIDs are shorter, so the common case makes no comparison call.
const isRsa = (buf: Buffer, oid: Tlv) =>
  oid.end - oid.contentStart === RSA_ENCRYPTION.length && content(buf, oid).equals(RSA_ENCRYPTION);
const reencoded = (buf: Buffer, tlv: Tlv) => encodeTlv(buf[tlv.start]!, content(buf, tlv));

interface KeyBits {
  key: Buffer;
  canonical: boolean;
}

const NO_UNUSED_BITS = Buffer.from([0]);

/**
 * The key bits of a BIT STRING whose content, buf[start, end), declares `unused` (1..7) unused bits,
 * right-aligned exactly as Go's asn1.BitString.RightAlign does: as many bytes, the first shifted
 * right by `unused`, each next one taking the low bits of the one before. The padding bits (checked
 * zero) drop out.
 */
function rightAligned(buf: Buffer, start: number, end: number, unused: number): Buffer {
  const out = Buffer.alloc(end - start);
  out[0] = buf[start]! >> unused;
  for (let i = 1; i < out.length; i++) {
    out[i] = ((buf[start + i - 1]! << (8 - unused)) | (buf[start + i]! >> unused)) & 0xff;
  }
  return out;
}

/** RSAPublicKey {modulus, publicExponent} in buf[start, end), canonical. */
function rsaPublicKey(buf: Buffer, start: number, end: number): KeyBits {
  const seq = element(buf, start, end, SEQUENCE, 'RSAPublicKey');
  const n = element(buf, seq.contentStart, seq.end, INTEGER, 'RSA modulus');
  const e = element(buf, n.end, seq.end, INTEGER, 'RSA exponent');
  const canonical = seq.end === end && e.end === seq.end && [seq, n, e].every(hasMinimalHeader);
  const key = canonical
    ? buf.subarray(start, end)
    : encodeTlv(SEQUENCE, reencoded(buf, n), reencoded(buf, e));
  return { key, canonical };
}

/**
 * The canonical DER of a SubjectPublicKeyInfo: `der` itself when it already is (the common case,
 * no copy), a re-encoding otherwise. Throws DerError, saying it is the key, when `der` is not a
 * SubjectPublicKeyInfo.
 */
export function canonicalSpki(der: Buffer): Buffer {
  try {
    return canonicalize(der);
  } catch (err) {
    throw err instanceof DerError ? new DerError(`public key: ${err.message}`) : err;
  }
}

function canonicalize(der: Buffer): Buffer {
  const spki = element(der, 0, der.length, SEQUENCE, 'SubjectPublicKeyInfo');
  // Go's x509.ParsePKIXPublicKey refuses it ("trailing data after ASN.1 of public-key"): bytes with
  // more after the key were never the key Rekor read, and taking the first element of them would
  // let a decoy key stand in front of the one that signed.
  if (spki.end !== der.length) throw new DerError('trailing data after SubjectPublicKeyInfo');
  const alg = element(der, spki.contentStart, spki.end, SEQUENCE, 'AlgorithmIdentifier');
  const oid = element(der, alg.contentStart, alg.end, OID, 'algorithm OID');
  const params = oid.end < alg.end ? readTlv(der, oid.end) : undefined;
  if (params && params.end > alg.end) throw new DerError('bad algorithm parameters');
  const bits = element(der, alg.end, spki.end, BIT_STRING, 'subjectPublicKey');
  if (bits.end === bits.contentStart) throw new DerError('empty subjectPublicKey');

  // The first content byte of a BIT STRING counts its unused bits; the key follows.
  const keyStart = bits.contentStart + 1;
  const unused = der[bits.contentStart]!;
  if (unused !== 0) {
    // Refused by Go's BIT STRING readers (cryptobyte ReadASN1BitString, asn1 parseBitString).
    if (unused > 7) throw new DerError(`subjectPublicKey declares ${unused} unused bits`);
    if (keyStart === bits.end) throw new DerError('unused bits in an empty subjectPublicKey');
    if ((der[bits.end - 1]! & ((1 << unused) - 1)) !== 0) {
      throw new DerError('subjectPublicKey padding bits are not zero');
    }
    // Go's parsePublicKey reads the key as `keyData.PublicKey.RightAlign()`: the same key as the
    // aligned bytes with no unused bits, which are then read like any other key (RSA walk included).
    const aligned = encodeTlv(BIT_STRING, NO_UNUSED_BITS, rightAligned(der, keyStart, bits.end, unused));
    return canonicalize(encodeTlv(SEQUENCE, der.subarray(alg.start, alg.end), aligned));
  }
  const rsa = isRsa(der, oid) ? rsaPublicKey(der, keyStart, bits.end) : undefined;
  const canonical =
    (params ?? oid).end === alg.end &&
    bits.end === spki.end &&
    (rsa?.canonical ?? true) &&
    hasMinimalHeader(spki) &&
    hasMinimalHeader(alg) &&
    hasMinimalHeader(oid) &&
    (params === undefined || hasMinimalHeader(params)) &&
    hasMinimalHeader(bits);
  if (canonical) return der;
  const key = rsa?.key ?? der.subarray(keyStart, bits.end);
  const algorithm = params ? [reencoded(der, oid), reencoded(der, params)] : [reencoded(der, oid)];
  return encodeTlv(SEQUENCE, encodeTlv(SEQUENCE, ...algorithm), encodeTlv(BIT_STRING, NO_UNUSED_BITS, key));
}
