/**
 * Fulcio-shaped test certificates built field by field, so a test can put in exactly the SAN or
 * SubjectPublicKeyInfo encoding it is about. Matching never checks the CA signature.
 */
import { encodeTlv as tlv } from '../../../functions/monitor-log/der.ts';
import { certificate, fulcioOid, oid, utf8 } from './hand-built-cert.ts';

const SEQUENCE = 0x30;

/** SAN GeneralNames for an email, a URI, or an otherName of Fulcio type 1.3.6.1.4.1.57264.1.{n}. */
export const generalName = {
  email: (s: string) => tlv(0x81, Buffer.from(s)),
  uri: (s: string) => tlv(0x86, Buffer.from(s)),
  fulcioOtherName: (n: number, value: string) => tlv(0xa0, fulcioOid(n), tlv(0xa0, utf8(value))),
};
export const USERNAME = 7;

export interface CertOptions {
  spki: Buffer;
  sans?: Buffer[];
  issuer?: string;
}

/** A DER certificate with the given SubjectPublicKeyInfo (verbatim), SANs (a critical extension) and Fulcio issuer (v2). */
export function fulcioLikeCertificate({ spki, sans = [], issuer }: CertOptions): Buffer {
  const extension = (id: Buffer, critical: boolean, value: Buffer) =>
    tlv(SEQUENCE, id, ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), tlv(0x04, value));
  return certificate(spki, [
    ...(sans.length > 0 ? [extension(oid('551d11'), true, tlv(SEQUENCE, ...sans))] : []),
    ...(issuer ? [extension(fulcioOid(8), false, utf8(issuer))] : []),
  ]);
}
