import { X509Certificate } from '@sigstore/core';

/** Fulcio certificate extensions carrying the OIDC issuer (v1: raw string, v2: DER UTF8String). */
const ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
/** Fulcio's username identity: an otherName SAN of this type holding a UTF8String (docs/oid-info.md). */
const USERNAME_SAN = '1.3.6.1.4.1.57264.1.7';

/**
 * The identity exactly as the certificate writes it, for matching: never shortened, since two
 * identities that share a prefix are two signers. Both fields are the certificate author's text and
 * may be as long as the certificate: bound them (logging/bounded.ts boundText) before storing,
 * showing or logging them.
 */
export interface CertificateIdentity {
  /** Subject alternative name: an email, a URI (a workflow identity) or a Fulcio username. */
  san: string | undefined;
  issuer: string | undefined;
}

type SanExtension = NonNullable<X509Certificate['extSubjectAltName']>;

/**
 * The Fulcio username SAN. Read here rather than with @sigstore/core's otherName(), which looks
 * at the first otherName only and decodes it as ASCII (a non-ASCII username would not match).
 */
function usernameSan(ext: SanExtension): string | undefined {
  // valueObj is the extnValue OCTET STRING; it holds the GeneralNames SEQUENCE.
  for (const name of ext.valueObj.subs[0]?.subs ?? []) {
    if (!name.tag.isContextSpecific(0)) continue; // otherName [0] {type-id, [0] EXPLICIT value}
    const [typeId, value] = name.subs;
    if (typeId?.tag.isOID() && typeId.toOID() === USERNAME_SAN) return value?.subs[0]?.value.toString('utf8');
  }
  return undefined;
}

/** The signer identity of a Fulcio certificate, as cosign's --certificate-identity matches it. */
export function certificateIdentity(der: Buffer): CertificateIdentity {
  const cert = X509Certificate.parse(Buffer.from(der));
  const ext = cert.extSubjectAltName;
  const san = ext && (ext.uri ?? ext.rfc822Name ?? usernameSan(ext));
  const v2 = cert.extension(ISSUER_V2)?.valueObj.subs[0]?.value.toString('utf8');
  const v1 = cert.extension(ISSUER_V1)?.value.toString('utf8');
  return { san, issuer: v2 ?? v1 };
}
