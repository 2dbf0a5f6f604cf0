/**
 * Fulcio-shaped test certificates built field by field, so a test can put in exactly the SAN or
 * SubjectPublicKeyInfo encoding it is about. Matching never checks the CA signature.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { encodeTlv as tlv } from '../../../functions/monitor-log/der.ts';

const SEQUENCE = 0x30;
const oid = (hex: string) => tlv(0x06, Buffer.from(hex, 'hex'));
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
const ECDSA_SHA256 = tlv(SEQUENCE, oid('2a8648ce3d040302'));
const NAME = tlv(SEQUENCE, tlv(0x31, tlv(SEQUENCE, oid('550403'), utf8('sigstore-intermediate'))));
/** 1.3.6.1.4.1.57264.1.{n} */
const fulcioOid = (n: number) => oid(`2b0601040183bf3001${n.toString(16).padStart(2, '0')}`);
const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });

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

/** A DER certificate with the given SubjectPublicKeyInfo (verbatim), SANs and Fulcio issuer (v2). */
export function fulcioLikeCertificate({ spki, sans = [], issuer }: CertOptions): Buffer {
  const extension = (id: Buffer, critical: boolean, value: Buffer) =>
    tlv(SEQUENCE, id, ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), tlv(0x04, value));
  const extensions = [
    ...(sans.length > 0 ? [extension(oid('551d11'), true, tlv(SEQUENCE, ...sans))] : []),
    ...(issuer ? [extension(fulcioOid(8), false, utf8(issuer))] : []),
  ];
  const tbs = tlv(
    SEQUENCE,
    tlv(0xa0, tlv(0x02, Buffer.from([2]))),
    tlv(0x02, Buffer.from([0x01, 0x23, 0x45])),
    ECDSA_SHA256,
    NAME,
    tlv(SEQUENCE, tlv(0x17, Buffer.from('250101000000Z')), tlv(0x17, Buffer.from('450101000000Z'))),
    tlv(SEQUENCE),
    spki,
    tlv(0xa3, tlv(SEQUENCE, ...extensions)),
  );
  const signature = sign('sha256', tbs, ca.privateKey);
  return tlv(SEQUENCE, tbs, ECDSA_SHA256, tlv(0x03, Buffer.from([0]), signature));
}
