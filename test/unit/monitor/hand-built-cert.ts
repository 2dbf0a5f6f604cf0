/**
 * Certificates built field by field for the tests of what a certificate may hold that Go accepts:
 * several SANs, both Fulcio issuer extensions, AlgorithmIdentifier parameters of any depth. Matching
 * never checks the CA signature. (After the review's test helper, /tmp/review-monitor/tests/certs.ts.)
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { encodeTlv as tlv } from '../../../functions/monitor-log/der.ts';

const SEQUENCE = 0x30;
export const oid = (hex: string) => tlv(0x06, Buffer.from(hex, 'hex'));
export const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
/** 1.3.6.1.4.1.57264.1.{n} */
export const fulcioOid = (n: number) => oid(`2b0601040183bf3001${n.toString(16).padStart(2, '0')}`);
const NAME = tlv(SEQUENCE, tlv(0x31, tlv(SEQUENCE, oid('550403'), utf8('sigstore-intermediate'))));
const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });

export const ext = (id: Buffer, value: Buffer) => tlv(SEQUENCE, id, tlv(0x04, value));
export const sanExt = (...names: Buffer[]) => ext(oid('551d11'), tlv(SEQUENCE, ...names));
export const uri = (s: string) => tlv(0x86, Buffer.from(s));
export const email = (s: string) => tlv(0x81, Buffer.from(s));
export const username = (s: string) => tlv(0xa0, fulcioOid(7), tlv(0xa0, utf8(s)));
/** Fulcio issuer extensions: v1 (1.1) holds the raw string, v2 (1.8) a UTF8String. */
export const issuerV1 = (s: string) => ext(fulcioOid(1), Buffer.from(s));
export const issuerV2 = (s: string) => ext(fulcioOid(8), utf8(s));

/** ecdsa-with-SHA256, with optional parameters (Go reads them as any element and ignores them for ECDSA). */
export function ecdsaSha256(params?: Buffer): Buffer {
  return tlv(SEQUENCE, oid('2a8648ce3d040302'), ...(params ? [params] : []));
}

/** `depth` SEQUENCEs nested in one another. */
export function nested(depth: number): Buffer {
  let v = tlv(SEQUENCE);
  for (let i = 1; i < depth; i++) v = tlv(SEQUENCE, v);
  return v;
}

export function certificate(spki: Buffer, extensions: Buffer[], sigAlg = ecdsaSha256()): Buffer {
  const tbs = tlv(
    SEQUENCE,
    tlv(0xa0, tlv(0x02, Buffer.from([2]))),
    tlv(0x02, Buffer.from([0x01, 0x23, 0x45])),
    sigAlg,
    NAME,
    tlv(SEQUENCE, tlv(0x17, Buffer.from('250101000000Z')), tlv(0x17, Buffer.from('450101000000Z'))),
    tlv(SEQUENCE),
    spki,
    tlv(0xa3, tlv(SEQUENCE, ...extensions)),
  );
  return tlv(SEQUENCE, tbs, sigAlg, tlv(0x03, Buffer.from([0]), sign('sha256', tbs, ca.privateKey)));
}

/** PEM with 64-character lines, as Go and OpenSSL write it; `headers` go between BEGIN and the base64. */
export function pem(label: string, der: Buffer, headers: string[] = []): string {
  const body = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return [`-----BEGIN ${label}-----`, ...headers, body, `-----END ${label}-----`, ''].join('\n');
}
