/**
 * What the organisation owns and wants to hear about (validated with zod): KMS key versions and
 * plain public keys (matched, as rekor-monitor does, by SHA-256 of the DER SubjectPublicKeyInfo,
 * in its canonical encoding on both sides: canonical-spki.ts),
 * Fulcio certificate identities (SAN email or URI, exact or regular expression, with the OIDC
 * issuer), other Fulcio extension values (such as the source repository), and certificate
 * fingerprints.
 *
 * A certificate identity's strings are compared without regard to ASCII case (identityText), and
 * an issuer also without trailing slashes (issuerText); regular expressions ignore case. Why, for
 * each: identityText.
 */
import crypto from 'node:crypto';
import { z } from 'zod';
import { KMS_KEY_VERSION } from '../config/sign-config.ts';
import { errorMessage } from '../logging/describe.ts';
import { fetchUnlessRefused } from '../signing/refused-kms-key.ts';
import { canonicalSpki } from './canonical-spki.ts';

const Sha256Hex = z
  .string()
  .regex(/^[0-9a-fA-F]{64}$/, 'a SHA-256 fingerprint is 64 hex digits')
  .transform((s) => s.toLowerCase());

const Regex = z.string().refine(
  (s) => {
    try {
      new RegExp(s, 'u');
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not a valid regular expression' },
);

const Oid = z.string().regex(/^[0-2](\.[0-9]+)+$/, 'an OID in dotted form');

/** Fulcio's OIDC issuer extensions: 1.1 (raw string, deprecated) and 1.8 (DER UTF8String). */
export const FULCIO_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
export const FULCIO_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';

const label = { name: z.string().min(1).optional() };

export const KmsIdentitySchema = z.object({
  type: z.literal('kms'),
  keyVersion: z.string().regex(KMS_KEY_VERSION, 'a full KMS cryptoKeyVersions name'),
  ...label,
});

export const PublicKeyIdentitySchema = z
  .object({
    type: z.literal('publicKey'),
    /** PEM SubjectPublicKeyInfo... */
    pem: z.string().min(1).optional(),
    /** ...or its SHA-256 (hex, of the canonical DER, as `openssl pkey -pubin -outform DER` writes). */
    sha256: Sha256Hex.optional(),
    ...label,
  })
  .refine((v) => (v.pem === undefined) !== (v.sha256 === undefined), {
    message: 'give exactly one of pem or sha256',
  });

export const CertificateIdentitySchema = z
  .object({
    type: z.literal('certificate'),
    san: z.string().min(1).optional(),
    sanRegex: Regex.optional(),
    issuer: z.string().min(1).optional(),
    issuerRegex: Regex.optional(),
    /** Fulcio extension OID → exact value, all of which must hold (e.g. source repository URI). */
    extensions: z.record(Oid, z.string()).optional(),
    ...label,
  })
  .refine(
    (v) => v.san !== undefined || v.sanRegex !== undefined || Object.keys(v.extensions ?? {}).length > 0,
    {
      message: 'a certificate identity needs san, sanRegex or extensions',
    },
  )
  .refine((v) => !(v.san !== undefined && v.sanRegex !== undefined), {
    message: 'san and sanRegex exclude each other',
  })
  .refine((v) => !(v.issuer !== undefined && v.issuerRegex !== undefined), {
    message: 'issuer and issuerRegex exclude each other',
  });

export const CertificateFingerprintIdentitySchema = z.object({
  type: z.literal('certificateFingerprint'),
  /** SHA-256 of the DER certificate. */
  sha256: Sha256Hex,
  ...label,
});

export const OwnedIdentitySchema = z.union([
  KmsIdentitySchema,
  PublicKeyIdentitySchema,
  CertificateIdentitySchema,
  CertificateFingerprintIdentitySchema,
]);
export type OwnedIdentity = z.infer<typeof OwnedIdentitySchema>;

/** An identity ready for matching: keys are reduced to their fingerprint. */
export type ResolvedIdentity =
  | { type: 'key'; keySha256: string; keyVersion?: string; description: string }
  | (z.infer<typeof CertificateIdentitySchema> & { description: string })
  | { type: 'certificateFingerprint'; sha256: string; description: string };

/**
 * SHA-256 of a key's canonical DER SubjectPublicKeyInfo: the same for every encoding of the same
 * key. Throws DerError when `der` is not a SubjectPublicKeyInfo. One-shot hash: the matcher
 * fingerprints every key of every entry it scans.
 */
export function spkiSha256(der: Buffer): string {
  return crypto.hash('sha256', canonicalSpki(der), 'hex');
}

/**
 * An owned key's DER, with an EC point uncompressed: OpenSSL keeps a PEM's compressed point,
 * while Go's parsers (so Rekor) take only uncompressed ones; a JWK round trip expands it.
 */
function ownedSpki(pem: string): Buffer {
  const key = crypto.createPublicKey(pem);
  const expanded =
    key.asymmetricKeyType === 'ec'
      ? crypto.createPublicKey({ key: key.export({ format: 'jwk' }), format: 'jwk' })
      : key;
  return expanded.export({ format: 'der', type: 'spki' });
}

export function pemSha256(pem: string): string {
  return spkiSha256(ownedSpki(pem));
}

/**
 * A certificate identity string (SAN, Fulcio extension value) as it is compared: ASCII letters
 * lower-cased, nothing else changed. The monitor's failure that matters is a false negative, and an
 * identity that differs from an owned one only in case is either the owned one or made to look like it:
 * - emails (both parts): Fulcio's email principal embeds the token's email claim unchanged, so in
 *   the IdP's case; mail providers treat the local part without regard to case; and Rekor's
 *   search index lower-cases every key it writes and every email it is asked for
 *   (pkg/indexstorage/redis WriteIndex, pkg/api/index.go), so `rekor-cli search --email` finds
 *   the entry in any case;
 * - URI SANs: scheme and host are case-insensitive (RFC 3986), and a GitHub workflow identity
 *   (`https://github.com/ORG/REPO/.github/workflows/x.yml@refs/heads/main`, Fulcio's SAN is
 *   `https://github.com/` + the token's job_workflow_ref) carries the owner and repository in the
 *   case GitHub stores them, which is not the case an operator need have written: GitHub's owner and
 *   repository names are case-insensitive. The workflow path and ref are case-sensitive in git, but
 *   one differing only in case still names a workflow of the organisation's own repository, or a
 *   lookalike of it: one alert to look at, where a miss would be silent;
 * - Fulcio usernames and extension values: the same reasoning. Only ASCII letters are folded
 *   (emails, URIs and issuers are ASCII), so the matcher's byte prefilter stays a necessary test.
 */
export function identityText(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/**
 * An OIDC issuer as it is compared: as identityText, and without trailing slashes (Fulcio writes the
 * token's `iss`, as the IdP spells it; `https://accounts.google.com/` is the same issuer). Scheme and
 * host are case-insensitive by RFC 3986; the path too here, for the reason identityText gives.
 */
export function issuerText(s: string): string {
  return identityText(s).replace(/\/+$/, '');
}

/** A configured certificate identity's strings, case folded as the matcher folds them or not. */
function identityStrings(id: z.infer<typeof CertificateIdentitySchema>, folded: boolean): string {
  const text = (s: string | undefined, fold: (s: string) => string) =>
    s === undefined ? null : folded ? fold(s) : s;
  return JSON.stringify([
    text(id.san, identityText),
    text(id.sanRegex, identityText),
    text(id.issuer, issuerText),
    text(id.issuerRegex, identityText),
    Object.entries(id.extensions ?? {})
      .map(([oid, v]) => `${oid}=${text(v, identityText)}`)
      .sort(),
  ]);
}

/**
 * Pairs of configured certificate identities that differ only in case (or an issuer's trailing
 * slash), which the matcher takes for one identity: worth a WARNING at load, as one of the two is
 * probably a typo, and whoever reads the configuration may take them for two.
 */
export function identitiesDifferingOnlyInCase(
  identities: readonly OwnedIdentity[],
): Array<[OwnedIdentity, OwnedIdentity]> {
  const seen = new Map<string, z.infer<typeof CertificateIdentitySchema>>();
  const out: Array<[OwnedIdentity, OwnedIdentity]> = [];
  for (const id of identities) {
    if (id.type !== 'certificate') continue;
    const folded = identityStrings(id, true);
    const first = seen.get(folded);
    if (first === undefined) seen.set(folded, id);
    else if (identityStrings(first, false) !== identityStrings(id, false)) out.push([first, id]);
  }
  return out;
}

/** Resolves KMS key versions to their public keys (fetched once per run of the loader). */
export async function resolveIdentities(
  identities: readonly OwnedIdentity[],
  kmsPublicKeyPem: (keyVersion: string) => Promise<string>,
): Promise<ResolvedIdentity[]> {
  return Promise.all(
    identities.map(async (id) =>
      id.type === 'kms' ? kmsKeyIdentity(id, await kmsPublicKeyPem(id.keyVersion)) : resolvedIdentity(id),
    ),
  );
}

type KmsIdentity = z.infer<typeof KmsIdentitySchema>;

const kmsDescription = (id: KmsIdentity) => id.name ?? `kms:${id.keyVersion}`;

/** A KMS key version, matched by its public key: the one KMS gives, or the one kept. */
function kmsKeyIdentity(id: KmsIdentity, pem: string, description = kmsDescription(id)): ResolvedIdentity {
  return { type: 'key', keySha256: pemSha256(pem), keyVersion: id.keyVersion, description };
}

/** Any identity but a KMS key version, which needs its public key fetched: ready for matching. */
function resolvedIdentity(id: Exclude<OwnedIdentity, KmsIdentity>): ResolvedIdentity {
  switch (id.type) {
    case 'publicKey': {
      const keySha256 = id.sha256 ?? pemSha256(id.pem!);
      return { type: 'key', keySha256, description: id.name ?? `key:sha256:${keySha256}` };
    }
    case 'certificate': {
      const parts = [
        id.san ?? (id.sanRegex ? `/${id.sanRegex}/` : undefined),
        id.issuer ?? (id.issuerRegex ? `issuer /${id.issuerRegex}/` : undefined),
        ...Object.entries(id.extensions ?? {}).map(([oid, v]) => `${oid}=${v}`),
      ].filter(Boolean);
      return { ...id, description: id.name ?? `cert:${parts.join(' ')}` };
    }
    case 'certificateFingerprint':
      return { ...id, description: id.name ?? `cert:sha256:${id.sha256}` };
  }
}

/** An owned KMS key version the monitor cannot watch: KMS refuses its public key and none is kept. */
export interface UnwatchedKey {
  keyVersion: string;
  /** The state KMS refused it for (DISABLED, DESTROY_SCHEDULED, DESTROYED, …). */
  state: string;
  /** KMS's answer. */
  error: string;
  /** Why no kept key could be read, when the store failed. */
  keptKeyError?: string;
  description: string;
}

/** An owned KMS key version watched with the public key kept when KMS last gave it. */
export interface KeptKeyWatch {
  keyVersion: string;
  state: string;
  readAt: string;
}

/** A key version KMS has not made yet (PENDING_GENERATION, PENDING_IMPORT): nothing can be signed with it. */
export interface PendingKey {
  keyVersion: string;
  state: string;
}

export interface OwnedKeySources {
  /** The key version's public key PEM; throws kms-signer's errors. */
  kmsPublicKeyPem(keyVersion: string): Promise<string>;
  /** The public key kept when KMS last gave it (reverify-keys), if any; throws when the store fails. */
  keptPublicKey?(keyVersion: string): Promise<{ pem: string; readAt: string } | undefined>;
}

export interface OwnedResolution {
  identities: ResolvedIdentity[];
  /** Refused for their state with no kept key: not watched. */
  unwatched: UnwatchedKey[];
  /** Refused for their state, watched with their kept key. */
  kept: KeptKeyWatch[];
  /** Not made yet: watched once KMS gives them. */
  pending: PendingKey[];
}

/**
 * As resolveIdentities, but a KMS key version whose public key KMS refuses for its state (a key
 * disabled when suspected compromised, or in rotation) does not stop the others being watched: it
 * is watched with its kept public key (the one reverifyImages keeps in `reverify-keys`), or, with none
 * kept (or the store unreadable), reported in `unwatched`; one still being generated or imported is
 * in `pending`. Any other failure (permission denied, no such key, KMS unreachable) is thrown.
 */
export async function resolveOwnedIdentities(
  identities: readonly OwnedIdentity[],
  sources: OwnedKeySources,
): Promise<OwnedResolution> {
  // The others first, so one that cannot be resolved throws before KMS is asked.
  const resolvedOrKms = identities.map((id) => (id.type === 'kms' ? id : resolvedIdentity(id)));
  const watches = await Promise.all(
    resolvedOrKms.map(
      async (r): Promise<OwnedKeyWatch> => (r.type === 'kms' ? watchKmsKey(r, sources) : { identity: r }),
    ),
  );
  // In the configured order: KMS identities where they were listed.
  const out: OwnedResolution = { identities: [], unwatched: [], kept: [], pending: [] };
  for (const watch of watches) {
    if (watch.identity !== undefined) out.identities.push(watch.identity);
    if (watch.kept !== undefined) out.kept.push(watch.kept);
    if (watch.unwatched !== undefined) out.unwatched.push(watch.unwatched);
    if (watch.pending !== undefined) out.pending.push(watch.pending);
  }
  return out;
}

/** How one owned identity is watched: with its key (KMS's or the kept one), or why not. */
interface OwnedKeyWatch {
  identity?: ResolvedIdentity;
  kept?: KeptKeyWatch;
  unwatched?: UnwatchedKey;
  pending?: PendingKey;
}

/** A KMS key version with the public key KMS gives, or, refused, the kept one, or why it is not watched. */
async function watchKmsKey(id: KmsIdentity, sources: OwnedKeySources): Promise<OwnedKeyWatch> {
  const fetched = await fetchUnlessRefused(sources.kmsPublicKeyPem, id.keyVersion);
  if ('key' in fetched) return { identity: kmsKeyIdentity(id, fetched.key) };
  // Reported under the configured name, which the alerts are keyed by (and which KMS was asked for).
  const { keyVersion } = id;
  const { state, error, transient } = fetched.refused;
  if (transient) return { pending: { keyVersion, state } };
  const description = kmsDescription(id);
  let keptKeyError: string | undefined;
  try {
    const kept = await sources.keptPublicKey?.(keyVersion);
    if (kept !== undefined) {
      // Inside the try: a kept PEM that does not parse is a store failure, reported as one.
      return {
        identity: kmsKeyIdentity(id, kept.pem, `${description} (kept key: KMS says ${state})`),
        kept: { keyVersion, state, readAt: kept.readAt },
      };
    }
  } catch (storeErr) {
    keptKeyError = errorMessage(storeErr);
  }
  const unwatched: UnwatchedKey = { keyVersion, state, error, description };
  if (keptKeyError !== undefined) unwatched.keptKeyError = keptKeyError;
  return { unwatched };
}
