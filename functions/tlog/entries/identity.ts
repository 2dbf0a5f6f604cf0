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

/** GeneralName tags ([n] IMPLICIT) of the SANs read as text: rfc822Name, dNSName, URI. */
const EMAIL = 1;
const DNS = 2;
const URI = 6;

/** The Fulcio username in an otherName GeneralName, or undefined for any other otherName. */
function username(name: SanExtension['valueObj']): string | undefined {
  // otherName [0] {type-id, [0] EXPLICIT value}
  const [typeId, value] = name.subs;
  return typeId?.tag.isOID() && typeId.toOID() === USERNAME_SAN
    ? value?.subs[0]?.value.toString('utf8')
    : undefined;
}

/**
 * The Fulcio username SAN. Read here rather than with @sigstore/core's otherName(), which looks
 * at the first otherName only and decodes it as ASCII (a non-ASCII username would not match).
 */
function usernameSan(ext: SanExtension): string | undefined {
  // valueObj is the extnValue OCTET STRING; it holds the GeneralNames SEQUENCE.
  for (const name of ext.valueObj.subs[0]?.subs ?? []) {
    if (!name.tag.isContextSpecific(0)) continue;
    const user = username(name);
    if (user !== undefined) return user;
  }
  return undefined;
}

/**
 * Every email, DNS name, URI and Fulcio username SAN, in certificate order, decoded as
 * @sigstore/core decodes the first (ASCII; the username as UTF-8). cosign's --certificate-identity
 * holds when any SAN equals it (getSubjectAlternateNames), not only the first.
 */
function allSans(ext: SanExtension | undefined): string[] {
  const out: string[] = [];
  for (const name of ext?.valueObj.subs[0]?.subs ?? []) {
    if (
      name.tag.isContextSpecific(EMAIL) ||
      name.tag.isContextSpecific(DNS) ||
      name.tag.isContextSpecific(URI)
    )
      out.push(name.value.toString('ascii'));
    else if (name.tag.isContextSpecific(0)) {
      const user = username(name);
      if (user !== undefined) out.push(user);
    }
  }
  return out;
}

function readIdentity(cert: X509Certificate): CertificateIdentity & { v1?: string; v2?: string } {
  const ext = cert.extSubjectAltName;
  const san = ext && (ext.uri ?? ext.rfc822Name ?? usernameSan(ext));
  const v2 = cert.extension(ISSUER_V2)?.valueObj.subs[0]?.value.toString('utf8');
  const v1 = cert.extension(ISSUER_V1)?.value.toString('utf8');
  return { san, issuer: v2 ?? v1, ...(v1 !== undefined ? { v1 } : {}), ...(v2 !== undefined ? { v2 } : {}) };
}

/** The signer identity of a Fulcio certificate, as cosign's --certificate-identity matches it. */
export function certificateIdentity(der: Buffer): CertificateIdentity {
  const { san, issuer } = readIdentity(X509Certificate.parse(Buffer.from(der)));
  return { san, issuer };
}

/**
 * Every identity a verifier could read in a certificate, for a monitor that must not miss one:
 * `san` and `issuer` as certificateIdentity gives them, `sans` every SAN (see allSans) and
 * `issuers` both Fulcio issuer extensions when a certificate has both (sigstore-go lets the later
 * one win, this reader the v2 one: either may be the one a verifier compares). Same bounds as
 * CertificateIdentity.
 */
export interface CertificateNames extends CertificateIdentity {
  sans: string[];
  issuers: string[];
}

export function certificateNames(der: Buffer): CertificateNames {
  const cert = X509Certificate.parse(Buffer.from(der));
  const { san, issuer, v1, v2 } = readIdentity(cert);
  const issuers =
    v2 !== undefined && v1 !== undefined && v1 !== v2 ? [v2, v1] : issuer === undefined ? [] : [issuer];
  return { san, issuer, sans: allSans(cert.extSubjectAltName), issuers };
}
