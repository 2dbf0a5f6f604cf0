import { X509Certificate } from '@sigstore/core';

/** Fulcio certificate extensions carrying the OIDC issuer (v1: raw string, v2: DER UTF8String). */
const ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';

export interface CertificateIdentity {
  /** Subject alternative name: an email or a URI (a workflow identity). */
  san: string | undefined;
  issuer: string | undefined;
}

/** The signer identity of a Fulcio certificate, as cosign's --certificate-identity matches it. */
export function certificateIdentity(der: Buffer): CertificateIdentity {
  const cert = X509Certificate.parse(Buffer.from(der));
  const ext = cert.subjectAltName;
  const v2 = cert.extension(ISSUER_V2)?.valueObj.subs[0]?.value.toString('utf8');
  const v1 = cert.extension(ISSUER_V1)?.value.toString('utf8');
  return { san: ext, issuer: v2 ?? v1 };
}
