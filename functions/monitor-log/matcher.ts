/**
 * Matches extracted verifiers against owned identities, cheapest test first: a key is a short
 * DER walk (canonical-spki.ts: the same key matches however it is encoded), one hash and a map
 * lookup; a certificate is fingerprinted (hash of the DER, hash of its SPKI found by a DER walk)
 * and checked against every literal its identity rules need (exact SAN, issuer,
 * extension values must appear verbatim in the DER) before it is parsed at all. Only the few
 * certificates that pass get a full X.509 parse.
 */
import crypto from 'node:crypto';
import { X509Certificate } from '@sigstore/core';
import { certificateIdentity } from '../tlog/entries/identity.ts';
import { certificateSpki, derStringOrRaw } from './der.ts';
import type { ExtractedVerifier } from './entry-verifiers.ts';
import type { ResolvedIdentity } from './identities.ts';
import { spkiSha256 } from './identities.ts';

export interface IdentityMatch {
  identity: ResolvedIdentity;
  verifier: ExtractedVerifier;
  /** What matched, for the evidence: a key fingerprint, a SAN and issuer, a certificate fingerprint. */
  matched: string;
}

type CertRule = Extract<ResolvedIdentity, { type: 'certificate' }> & {
  literals: Buffer[];
  sanPattern?: RegExp;
  issuerPattern?: RegExp;
};

export class IdentityMatcher {
  private readonly keys = new Map<string, ResolvedIdentity[]>();
  private readonly certs = new Map<string, ResolvedIdentity[]>();
  private readonly rules: CertRule[] = [];
  /** Certificates that went through the full parse (for the benchmark and tests). */
  fullParses = 0;

  constructor(identities: readonly ResolvedIdentity[]) {
    const add = (map: Map<string, ResolvedIdentity[]>, k: string, id: ResolvedIdentity) =>
      map.set(k, [...(map.get(k) ?? []), id]);
    for (const id of identities) {
      if (id.type === 'key') add(this.keys, id.keySha256, id);
      else if (id.type === 'certificateFingerprint') add(this.certs, id.sha256, id);
      else {
        const literals = [id.san, id.issuer, ...Object.values(id.extensions ?? {})]
          .filter((s): s is string => s !== undefined)
          .map((s) => Buffer.from(s, 'utf8'));
        this.rules.push({
          ...id,
          literals,
          ...(id.sanRegex ? { sanPattern: new RegExp(id.sanRegex, 'u') } : {}),
          ...(id.issuerRegex ? { issuerPattern: new RegExp(id.issuerRegex, 'u') } : {}),
        });
      }
    }
  }

  get empty(): boolean {
    return this.keys.size === 0 && this.certs.size === 0 && this.rules.length === 0;
  }

  /**
   * Throws (DerError) only for a key or certificate whose DER cannot even be walked: the entry
   * is then reported unparseable, never passed over as not ours.
   */
  match(verifier: ExtractedVerifier): IdentityMatch[] {
    const out: IdentityMatch[] = [];
    if (verifier.type === 'publicKey') {
      const fp = spkiSha256(verifier.der);
      for (const identity of this.keys.get(fp) ?? [])
        out.push({ identity, verifier, matched: `key sha256:${fp}` });
      return out;
    }
    const spkiFp = spkiSha256(certificateSpki(verifier.der));
    for (const identity of this.keys.get(spkiFp) ?? []) {
      out.push({ identity, verifier, matched: `certificate key sha256:${spkiFp}` });
    }
    if (this.certs.size > 0) {
      const certFp = crypto.hash('sha256', verifier.der, 'hex');
      for (const identity of this.certs.get(certFp) ?? []) {
        out.push({ identity, verifier, matched: `certificate sha256:${certFp}` });
      }
    }
    const candidates = this.rules.filter((r) => r.literals.every((l) => verifier.der.includes(l)));
    if (candidates.length === 0) return out;
    this.fullParses++;
    const { san, issuer } = certificateIdentity(verifier.der);
    let parsed: X509Certificate | undefined;
    for (const rule of candidates) {
      if (rule.san !== undefined && san !== rule.san) continue;
      if (rule.sanPattern && (san === undefined || !rule.sanPattern.test(san))) continue;
      if (rule.issuer !== undefined && issuer !== rule.issuer) continue;
      if (rule.issuerPattern && (issuer === undefined || !rule.issuerPattern.test(issuer))) continue;
      const extensions = Object.entries(rule.extensions ?? {});
      if (extensions.length > 0) {
        parsed ??= X509Certificate.parse(Buffer.from(verifier.der));
        const cert = parsed;
        const all = extensions.every(([oid, want]) => {
          const ext = cert.extension(oid);
          return ext !== undefined && derStringOrRaw(ext.value) === want;
        });
        if (!all) continue;
      }
      out.push({ identity: rule, verifier, matched: `san ${san ?? '-'} issuer ${issuer ?? '-'}` });
    }
    return out;
  }
}
