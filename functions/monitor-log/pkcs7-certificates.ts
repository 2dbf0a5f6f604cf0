/**
 * The certificates a CMS / PKCS#7 SignedData carries, by a short DER walk (der.ts), for the entry
 * kinds whose signer's certificate Rekor v1 keeps only inside one: `jar` (the detached PKCS#7 of
 * the JAR's signature file, `signature.content`) and `rfc3161` (the timestamp token).
 *
 * Rekor reads both with relic: pkcs7.Unmarshal / ContentInfoSignedData, then
 * `SignedData.Certificates.Parse()`, which is `x509.ParseCertificates` over the contents of
 * `certificates [0] IMPLICIT`; the signer's certificate is then found among them by issuer and
 * serial number (SignerInfo.FindCertificate), wherever it stands in the set. So every certificate
 * of the set is returned, to be matched: an owned key or identity anywhere in it is worth a look.
 *
 * ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT SignedData }
 * SignedData ::= SEQUENCE { version INTEGER (relic: default 1, may be absent), digestAlgorithms
 *   SET, encapContentInfo SEQUENCE, certificates [0] IMPLICIT OPTIONAL, crls [1] OPTIONAL,
 *   signerInfos SET }
 *
 * No recursion (the walk is as deep as the structure above), at most MAX_PKCS7_BYTES read and
 * MAX_PKCS7_CERTIFICATES returned (pgp-public-key.ts's bounds): hostile input costs a linear walk
 * at most, and what cannot be read throws DerError, for the caller to report.
 */
import { DerError, readTlv, type Tlv } from './der.ts';

const SEQUENCE = 0x30;
const OID = 0x06;
/** [0], constructed: ContentInfo's content (EXPLICIT) and SignedData's certificates (IMPLICIT). */
const CONTEXT_0 = 0xa0;

export const MAX_PKCS7_BYTES = 4 * 1024 * 1024;
export const MAX_PKCS7_CERTIFICATES = 256;

export interface Pkcs7Certificates {
  /** Each certificate's DER, in set order (views into the input, no copy). */
  certificates: Buffer[];
  /** Elements of the set that are no certificate, or certificates past the bound: to be reported. */
  problem?: string;
}

/** The TLV at `offset`, which must lie within `limit` (and have `tag`, when one is given). */
function within(der: Buffer, offset: number, limit: number, what: string, tag?: number): Tlv {
  if (offset >= limit) throw new DerError(`no ${what}`);
  const tlv = readTlv(der, offset);
  if (tlv.end > limit) throw new DerError(`${what} runs past its container`);
  if (tag !== undefined && tlv.tag !== tag) throw new DerError(`${what} is not of the expected type`);
  return tlv;
}

/**
 * The certificates of the ContentInfo at der[offset, limit). Its contentType is not compared with
 * signedData: relic's Unmarshal (jar) does not compare it either (Rekor's rfc3161 validate does).
 * A SignedData with no certificates field gives none: nothing to match.
 */
export function signedDataCertificates(der: Buffer, offset = 0, limit = der.length): Pkcs7Certificates {
  if (limit - offset > MAX_PKCS7_BYTES) throw new DerError(`PKCS#7 larger than ${MAX_PKCS7_BYTES} octets`);
  const contentInfo = within(der, offset, limit, 'PKCS#7 ContentInfo', SEQUENCE);
  const contentType = within(der, contentInfo.contentStart, contentInfo.end, 'PKCS#7 contentType', OID);
  const explicit = within(der, contentType.end, contentInfo.end, 'PKCS#7 content', CONTEXT_0);
  const signedData = within(der, explicit.contentStart, explicit.end, 'PKCS#7 SignedData', SEQUENCE);
  // version?, digestAlgorithms, encapContentInfo, then certificates: the first [0] (no earlier
  // field can be one). Each field is walked over, never into.
  let certificates: Tlv | undefined;
  for (let pos = signedData.contentStart; pos < signedData.end; ) {
    const field = within(der, pos, signedData.end, 'SignedData field');
    if (field.tag === CONTEXT_0) {
      certificates = field;
      break;
    }
    pos = field.end;
  }
  if (certificates === undefined) return { certificates: [] };
  const out: Buffer[] = [];
  let problem: string | undefined;
  for (let pos = certificates.contentStart; pos < certificates.end; ) {
    const cert = within(der, pos, certificates.end, 'PKCS#7 certificate');
    pos = cert.end;
    // Go's x509.ParseCertificates refuses any other CertificateChoices (attribute certificates,
    // `other`): Rekor would not have logged it. Reported; the certificates around it still read.
    if (cert.tag !== SEQUENCE) {
      problem ??= 'a PKCS#7 certificates element is not a certificate';
      continue;
    }
    if (out.length === MAX_PKCS7_CERTIFICATES) {
      problem = `more than ${MAX_PKCS7_CERTIFICATES} PKCS#7 certificates (the rest not read)`;
      break;
    }
    out.push(der.subarray(cert.start, cert.end));
  }
  return problem === undefined ? { certificates: out } : { certificates: out, problem };
}

/**
 * The certificates of an RFC 3161 TimeStampResp (Rekor rfc3161 0.0.1 `spec.tsr.content`: relic
 * pkcs9.TimeStampResp, SEQUENCE { status PKIStatusInfo, timeStampToken ContentInfo OPTIONAL }).
 * A response without a token throws: Rekor refuses it (its contentType must be signedData), so
 * only a gap in this reader, or a log that does not check, can put one here.
 */
export function timeStampRespCertificates(der: Buffer): Pkcs7Certificates {
  if (der.length > MAX_PKCS7_BYTES) throw new DerError(`TimeStampResp larger than ${MAX_PKCS7_BYTES} octets`);
  const resp = within(der, 0, der.length, 'TimeStampResp', SEQUENCE);
  const status = within(der, resp.contentStart, resp.end, 'TimeStampResp status', SEQUENCE);
  if (status.end === resp.end) throw new DerError('TimeStampResp holds no timeStampToken');
  return signedDataCertificates(der, status.end, resp.end);
}
