/**
 * Just enough DER to find a certificate's SubjectPublicKeyInfo without parsing the certificate,
 * and to re-encode a key canonically (canonical-spki.ts): the scan fingerprints every key and
 * certificate in the log, and a full X.509 parse per entry is what makes a monitor fall behind.
 */

export class DerError extends Error {}

export interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the content. */
  end: number;
}

export function readTlv(buf: Buffer, offset: number): Tlv {
  if (offset + 2 > buf.length) throw new DerError('truncated DER');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte DER tags are not used in certificates');
  let length = buf[offset + 1]!;
  let pos = offset + 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n === 0 || n > 4 || pos + n > buf.length) throw new DerError('bad DER length');
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[pos + i]!;
    pos += n;
  }
  const end = pos + length;
  if (end > buf.length) throw new DerError('DER value runs past its buffer');
  return { tag, start: offset, contentStart: pos, end };
}

/** Bytes of a definite-length header (short or long form) for `length` bytes of content. */
function headerSize(length: number): number {
  if (length < 0x80) return 2;
  let n = 0;
  for (let l = length; l > 0; l = Math.floor(l / 256)) n++;
  return 2 + n;
}

/** Whether a TLV's length is in the one form DER allows (the shortest). */
export function hasMinimalHeader(tlv: Tlv): boolean {
  return tlv.contentStart - tlv.start === headerSize(tlv.end - tlv.contentStart);
}

/** One DER TLV with the shortest length form. */
export function encodeTlv(tag: number, ...content: Buffer[]): Buffer {
  const length = content.reduce((sum, c) => sum + c.length, 0);
  const header = Buffer.alloc(headerSize(length));
  header[0] = tag;
  if (length < 0x80) header[1] = length;
  else {
    header[1] = 0x80 | (header.length - 2);
    for (let i = header.length - 1, l = length; i >= 2; i--, l = Math.floor(l / 256)) header[i] = l & 0xff;
  }
  return Buffer.concat([header, ...content]);
}

const SEQUENCE = 0x30;
const EXPLICIT_VERSION = 0xa0;

/** The DER SubjectPublicKeyInfo inside a DER certificate (RFC 5280 TBSCertificate order). */
export function certificateSpki(cert: Buffer): Buffer {
  const outer = readTlv(cert, 0);
  if (outer.tag !== SEQUENCE) throw new DerError('certificate is not a SEQUENCE');
  // Go's x509.ParseCertificate refuses it ("x509: trailing data"), so Rekor never read such bytes as
  // one certificate.
  if (outer.end !== cert.length) throw new DerError('trailing data after the certificate');
  const tbs = readTlv(cert, outer.contentStart);
  if (tbs.tag !== SEQUENCE) throw new DerError('tbsCertificate is not a SEQUENCE');
  let pos = tbs.contentStart;
  let field = readTlv(cert, pos);
  if (field.tag === EXPLICIT_VERSION) {
    pos = field.end;
    field = readTlv(cert, pos);
  }
  // serialNumber, signature, issuer, validity, subject, then subjectPublicKeyInfo.
  for (let i = 0; i < 5; i++) {
    pos = field.end;
    field = readTlv(cert, pos);
  }
  if (field.tag !== SEQUENCE || field.end > tbs.end) throw new DerError('no subjectPublicKeyInfo');
  return cert.subarray(field.start, field.end);
}

/** The string in a DER UTF8String / IA5String / PrintableString, or the bytes as UTF-8 otherwise. */
export function derStringOrRaw(value: Buffer): string {
  const tag = value[0];
  if (tag === 0x0c || tag === 0x16 || tag === 0x13) {
    try {
      const tlv = readTlv(value, 0);
      if (tlv.end === value.length) return value.subarray(tlv.contentStart, tlv.end).toString('utf8');
    } catch {
      // not DER after all: a Fulcio v1 extension holds the raw string
    }
  }
  return value.toString('utf8');
}
