/**
 * Matches extracted verifiers against owned identities, cheapest test first: a key is a short
 * DER walk (canonical-spki.ts: the same key matches however it is encoded), one hash and a map
 * lookup; a certificate is fingerprinted (hash of the DER, hash of its SPKI found by a DER walk)
 * and checked against every literal its identity rules need (SAN, issuer and extension values
 * must appear in the DER, without regard to ASCII case: identities.ts identityText) before it is
 * parsed at all. Only the few certificates that pass get a full X.509 parse.
 *
 * The configured identities are folded once, here; per certificate the prefilter costs one latin1
 * view of the DER and a case-insensitive search per literal (a fraction of a microsecond each).
 */
import crypto from 'node:crypto';
import { X509Certificate } from '@sigstore/core';
import { errorMessage } from '../logging/describe.ts';
import { certificateNames } from '../tlog/entries/identity.ts';
import { kmsKeyResourceName } from '../verify/policy.ts';
import { certificateSpki, derStringOrRaw } from './der.ts';
import type { ExtractedVerifier } from './entry-verifiers.ts';
import type { ResolvedIdentity } from './identities.ts';
import { identityText, issuerText, spkiSha256 } from './identities.ts';

export interface IdentityMatch {
  identity: ResolvedIdentity;
  verifier: ExtractedVerifier;
  /** What matched, for the evidence: a key fingerprint, a SAN and issuer, a certificate fingerprint. */
  matched: string;
  /**
   * SHA-256 of the canonical SPKI of the key the verifier's signature is checked with (the key, or
   * the certificate's): what a signing record must be bound to (signing-lookup.ts recordMismatch).
   */
  keySha256: string;
}

/**
 * The matches of one verifier, and the error that stopped its matching, if one did: matches found
 * before it are kept, never lost to a later, unreadable part of the same certificate.
 */
export interface MatchOutcome {
  matches: IdentityMatch[];
  error?: Error;
}

type CertRule = Extract<ResolvedIdentity, { type: 'certificate' }> & {
  /**
   * What the DER must contain for the rule to hold: each configured string, searched for without
   * regard to case in a latin1 view of the DER (its UTF-8 bytes one character each, so a non-ASCII
   * character is compared byte for byte, as identityText leaves it). A necessary test only.
   */
  literals: RegExp[];
  /** san, issuer and extension values folded as they are compared (identityText, issuerText). */
  sanText?: string;
  issuerText?: string;
  extensionTexts: Array<[oid: string, text: string]>;
  /** The pattern as written and with case ignored: either holding is a match (`matchesAny`). */
  sanPattern?: readonly RegExp[];
  issuerPattern?: readonly RegExp[];
};

/** A case-insensitive search for `s` (its UTF-8 bytes as latin1 characters) in a latin1 string. */
function literal(s: string): RegExp {
  const latin1 = Buffer.from(s, 'utf8').toString('latin1');
  return new RegExp(latin1.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'), 'i');
}

export class IdentityMatcher {
  private readonly keys = new Map<string, ResolvedIdentity[]>();
  private readonly certs = new Map<string, ResolvedIdentity[]>();
  private readonly rules: CertRule[] = [];
  /** KMS key version (without `gcpkms://`) → the SHA-256 of its key's canonical SPKI. */
  private readonly keyVersions = new Map<string, string>();
  /** Certificates that went through the full parse (for the benchmark and tests). */
  fullParses = 0;

  constructor(identities: readonly ResolvedIdentity[]) {
    const add = (map: Map<string, ResolvedIdentity[]>, k: string, id: ResolvedIdentity) =>
      map.set(k, [...(map.get(k) ?? []), id]);
    for (const id of identities) {
      if (id.type === 'key') {
        add(this.keys, id.keySha256, id);
        if (id.keyVersion !== undefined)
          this.keyVersions.set(kmsKeyResourceName(id.keyVersion), id.keySha256);
      } else if (id.type === 'certificateFingerprint') add(this.certs, id.sha256, id);
      else {
        // A trailing slash of the issuer is left out of its literal: the certificate may have none.
        const issuer = id.issuer === undefined ? undefined : issuerText(id.issuer);
        const extensionTexts = Object.entries(id.extensions ?? {}).map(([oid, v]): [string, string] => [
          oid,
          identityText(v),
        ]);
        const literals = [id.san, issuer, ...extensionTexts.map(([, v]) => v)]
          .filter((s): s is string => s !== undefined && s !== '')
          .map(literal);
        this.rules.push({
          ...id,
          literals,
          ...(id.san !== undefined ? { sanText: identityText(id.san) } : {}),
          ...(issuer !== undefined ? { issuerText: issuer } : {}),
          extensionTexts,
          // Case ignored, as it is for san and issuer, and as written too: ignoring case widens a
          // pattern of plain text but narrows one that excludes by case (`(?!Test-)`, `[^A-Z]`).
          ...(id.sanRegex ? { sanPattern: bothCases(id.sanRegex) } : {}),
          ...(id.issuerRegex ? { issuerPattern: bothCases(id.issuerRegex) } : {}),
        });
      }
    }
  }

  get empty(): boolean {
    return this.keys.size === 0 && this.certs.size === 0 && this.rules.length === 0;
  }

  /**
   * The SHA-256 of the canonical SPKI of an owned KMS key version's key (as its `kms` identity
   * resolved it), or undefined for a key version that is not an owned identity: a signing record's
   * key version is bound to an entry through it (signing-lookup.ts).
   */
  keyOfVersion(keyVersion: string): string | undefined {
    return this.keyVersions.get(kmsKeyResourceName(keyVersion));
  }

  /**
   * The owned identities a key or certificate matches. Throws (DerError for DER that cannot even be
   * walked, an @sigstore/core error for a certificate it cannot parse) when any part could not be
   * read, even if something matched before it: the scan uses matchOutcome, which keeps those.
   */
  match(verifier: ExtractedVerifier): IdentityMatch[] {
    const { matches, error } = this.matchOutcome(verifier);
    if (error !== undefined) throw error;
    return matches;
  }

  /**
   * As match, but what matched before a part of the verifier proved unreadable is returned with the
   * error: a certificate whose key is an owned key is a match however the rest of it reads (a
   * keyless rule needs the full parse, which can fail where Go's parser does not).
   */
  matchOutcome(verifier: ExtractedVerifier): MatchOutcome {
    const matches: IdentityMatch[] = [];
    try {
      this.collect(verifier, matches);
      return { matches };
    } catch (err) {
      return { matches, error: err instanceof Error ? err : new Error(errorMessage(err)) };
    }
  }

  /** Pushes each match onto `out` as it is found, so that a later throw leaves the earlier ones. */
  private collect(verifier: ExtractedVerifier, out: IdentityMatch[]): void {
    if (verifier.type === 'publicKey') {
      const fp = spkiSha256(verifier.der);
      for (const identity of this.keys.get(fp) ?? [])
        out.push({ identity, verifier, matched: `key sha256:${fp}`, keySha256: fp });
      return;
    }
    const spkiFp = spkiSha256(certificateSpki(verifier.der));
    for (const identity of this.keys.get(spkiFp) ?? []) {
      out.push({ identity, verifier, matched: `certificate key sha256:${spkiFp}`, keySha256: spkiFp });
    }
    if (this.certs.size > 0) {
      const certFp = crypto.hash('sha256', verifier.der, 'hex');
      for (const identity of this.certs.get(certFp) ?? []) {
        out.push({ identity, verifier, matched: `certificate sha256:${certFp}`, keySha256: spkiFp });
      }
    }
    if (this.rules.length === 0) return;
    const text = verifier.der.toString('latin1');
    const candidates = this.rules.filter((r) => r.literals.every((l) => l.test(text)));
    if (candidates.length === 0) return;
    this.fullParses++;
    // Every SAN and both issuer extensions: a verifier (cosign) accepts the certificate when any
    // SAN is the identity, and which issuer extension it reads depends on their order.
    const { sans, issuers } = certificateNames(verifier.der);
    const sanTexts = sans.map(identityText);
    const issuerTexts = issuers.map(issuerText);
    let parsed: X509Certificate | undefined;
    for (const rule of candidates) {
      const san = this.sanOf(rule, sans, sanTexts);
      if (san === null) continue;
      const issuer = this.issuerOf(rule, issuers, issuerTexts);
      if (issuer === null) continue;
      if (rule.extensionTexts.length > 0) {
        parsed ??= X509Certificate.parse(Buffer.from(verifier.der));
        const cert = parsed;
        const all = rule.extensionTexts.every(([oid, want]) => {
          const ext = cert.extension(oid);
          return ext !== undefined && identityText(derStringOrRaw(ext.value)) === want;
        });
        if (!all) continue;
      }
      out.push({
        identity: rule,
        verifier,
        matched: `san ${san ?? '-'} issuer ${issuer ?? '-'}`,
        keySha256: spkiFp,
      });
    }
  }

  /** The SAN the rule's san or sanRegex holds for (the first SAN when it has neither), null if none. */
  private sanOf(rule: CertRule, sans: string[], sanTexts: string[]): string | undefined | null {
    if (rule.sanText !== undefined) {
      const i = sanTexts.indexOf(rule.sanText);
      return i < 0 ? null : sans[i];
    }
    if (rule.sanPattern) return sans.find((san) => matchesAny(rule.sanPattern!, san)) ?? null;
    return sans[0];
  }

  /** The issuer the rule's issuer or issuerRegex holds for (the first when it has neither), null if none. */
  private issuerOf(rule: CertRule, issuers: string[], issuerTexts: string[]): string | undefined | null {
    if (rule.issuerText !== undefined) {
      const i = issuerTexts.indexOf(rule.issuerText);
      return i < 0 ? null : issuers[i];
    }
    // Tried on the issuer as written and without trailing slashes: either holding is a match.
    const pattern = rule.issuerPattern;
    if (pattern) return issuers.find((issuer, i) => matchesAny(pattern, issuer, issuerTexts[i]!)) ?? null;
    return issuers[0];
  }
}

/** A configured pattern as written and with case ignored. */
function bothCases(source: string): readonly RegExp[] {
  return [new RegExp(source, 'u'), new RegExp(source, 'iu')];
}

/** Whether any pattern matches any of the texts. */
function matchesAny(patterns: readonly RegExp[], ...texts: string[]): boolean {
  return patterns.some((p) => texts.some((t) => p.test(t)));
}
