/**
 * What the verifier concludes about one image digest. A verdict names every signature it looked at
 * (a finding), so an operator reading an alert sees which signature failed, where it lives in the
 * registry, and which log entry backs it.
 */

import { boundText, MAX_REASON_CHARS } from '../logging/bounded.ts';

/**
 * valid: a signature from an expected key or identity verifies, with log inclusion, key enabled.
 * unsigned: no signature from an expected signer. missing: a signature that was there before is gone.
 * invalid: a signature that claims an expected signer does not verify (tampered, replayed, wrong log).
 * key-disabled: the only good signatures are by KMS key versions that are no longer ENABLED.
 */
export type VerdictStatus = 'valid' | 'unsigned' | 'invalid' | 'missing' | 'key-disabled';
export const VERDICT_STATUSES: readonly VerdictStatus[] = [
  'valid',
  'unsigned',
  'invalid',
  'missing',
  'key-disabled',
];

/** cosign's `.sig` tag layout, or a Sigstore bundle attached as an OCI referrer. */
export type SignatureLayout = 'cosign' | 'bundle';

/** One transparency-log entry backing a signature, as much as is needed to re-check it later. */
export interface LogEvidence {
  /** Hex SHA-256 of the log's key (Rekor v1 log ID). */
  logId: string;
  logIndex: number;
  integratedTime: number;
  kind: string;
  /** Hex SHA-256 of the canonicalized entry body: the entry found at `logIndex` must still be this one. */
  bodyHash: string;
  /** What proved inclusion when the signature was verified. */
  inclusion: Array<'signed-entry-timestamp' | 'inclusion-proof'>;
  /** Tree size of the newest checkpoint inclusion was proven against, when re-checked online. */
  provenAtTreeSize?: number;
  /** Hex root hash of that tree: the next re-check proves the log still extends it. */
  provenAtRoot?: string;
  /** Checkpoint origin of that tree: a sharded log's trees differ by it (absent in older records). */
  provenAtOrigin?: string;
}

/**
 * valid / invalid / key-disabled as for the verdict; foreign: made by a signer the policy does not
 * name (another key, another identity, an attestation that is not a signature), and so ignored.
 */
export type FindingOutcome = 'valid' | 'invalid' | 'key-disabled' | 'foreign';

export interface SignatureFinding {
  layout: SignatureLayout;
  /** The `.sig` layer digest or the referrer manifest digest. */
  location: string;
  outcome: FindingOutcome;
  reason?: string;
  /** The expected key (KMS key version or `pem:<hint>`) or the certificate identity that signed. */
  signer?: string;
  issuer?: string;
  keyVersion?: string;
  keyState?: string;
  log?: LogEvidence[];
  /**
   * Made invalid by reverifyImages' log inclusion re-check alone, its signature verified: the next
   * pass re-checks it like a valid one. A mark of its own, not the reason's wording, which for other
   * findings comes from parsers of what others wrote.
   */
  inclusionRecheckFailed?: true;
}

export interface Verdict {
  status: VerdictStatus;
  /** HOST/REPO@sha256:… */
  image: string;
  digest: string;
  reasons: string[];
  /**
   * Every finding that decides the status (all but `foreign` ones) and the first MAX_FOREIGN_FINDINGS
   * foreign ones: a registry may hold thousands of signatures by others, and the verdict is stored
   * whole in one Firestore entity (1 MiB at most).
   */
  findings: SignatureFinding[];
  /** Foreign findings left out of `findings` (counted, not listed); absent when none were. */
  foreignOmitted?: number;
  evidence: {
    /** Digest of the `.sig` manifest, or null when there is none. */
    signatureManifest: string | null;
    /** Digest of the referrers index (tag schema) or `api:<hash>` of the referrers listing; null: none. */
    referrers: string | null;
    checkedAt: string;
  };
}

/**
 * A finding as it is stored and shown: its texts, which quote what others wrote (an error message,
 * a certificate identity), bounded so a verdict fits a Firestore entity whatever a registry holds.
 * Bounding twice changes nothing; the decisions were made before, on the full values.
 */
export function boundFinding(f: SignatureFinding): SignatureFinding {
  const out: SignatureFinding = { ...f, location: boundText(f.location) };
  if (f.reason !== undefined) out.reason = boundText(f.reason, MAX_REASON_CHARS);
  if (f.signer !== undefined) out.signer = boundText(f.signer);
  if (f.issuer !== undefined) out.issuer = boundText(f.issuer);
  if (f.keyVersion !== undefined) out.keyVersion = boundText(f.keyVersion);
  if (f.keyState !== undefined) out.keyState = boundText(f.keyState);
  // A log entry's kind is the bundle's word (kindVersion), not the log's.
  if (f.log !== undefined) out.log = f.log.map((l) => ({ ...l, kind: boundText(l.kind) }));
  return out;
}

/**
 * Foreign findings a verdict lists at most. They never decide a status (decideStatus: a signer the
 * policy does not name is ignored; with no signature of ours the status is `unsigned` however many
 * there are), so the rest are only counted. About 50 bounded findings are a few tens of KiB.
 */
export const MAX_FOREIGN_FINDINGS = 50;

/**
 * The findings a verdict lists: every one but the foreign ones past the first MAX_FOREIGN_FINDINGS,
 * in their order, and how many foreign ones are left out (`omitted`: already left out before, as a
 * stored verdict's are). Listing a listed set again changes nothing.
 */
export function listedFindings(
  findings: readonly SignatureFinding[],
  omitted = 0,
): { findings: SignatureFinding[]; foreignOmitted: number } {
  const out: SignatureFinding[] = [];
  let foreign = 0;
  let left = omitted;
  for (const f of findings) {
    if (f.outcome === 'foreign' && ++foreign > MAX_FOREIGN_FINDINGS) {
      left++;
      continue;
    }
    out.push(f);
  }
  return { findings: out, foreignOmitted: left };
}

/** A verdict's reason, as it is stored and alerted: one bounded sentence. */
const reason = (text: string) => boundText(text, MAX_REASON_CHARS);

/** Reasons a verdict lists at most: one per signature, and a registry may hold thousands. */
export const MAX_REASONS = 20;

/** At most MAX_REASONS reasons, the last saying how many more there were. */
function someOf(reasons: string[], what: string): string[] {
  if (reasons.length <= MAX_REASONS) return reasons;
  const kept = reasons.slice(0, MAX_REASONS - 1);
  return [...kept, `… and ${reasons.length - kept.length} more ${what}`];
}

/**
 * Others' reasons joined into one sentence, no longer than a reason may be, and how many it left out
 * (with `omitted` more not given: foreign findings a stored verdict no longer lists).
 */
function joinReasons(texts: ReadonlyArray<string | undefined>, omitted = 0): string {
  let joined = '';
  let count = 0;
  for (const text of texts) {
    if (joined.length > 2 * MAX_REASON_CHARS) break;
    joined += `${count === 0 ? '' : '; '}${text}`;
    count++;
  }
  const more = texts.length - count + omitted;
  return more === 0 ? joined : `${joined}; … and ${more} more`;
}

/**
 * The verdict that follows from the findings. A broken signature that claims to be ours outranks
 * a good one: someone with push access tampered, and that must be seen even if another copy verifies.
 * Foreign findings decide nothing (they only name the others' signers in an `unsigned` reason), so
 * `foreignOmitted`, foreign findings not listed (listedFindings), changes no status, only the count
 * of signers that reason leaves out: a verdict judged from a stored listing reads as it did.
 */
export function decideStatus(
  findings: readonly SignatureFinding[],
  expectedLayouts: readonly SignatureLayout[] = [],
  foreignOmitted = 0,
): { status: VerdictStatus; reasons: string[] } {
  const ours = findings.filter((f) => f.outcome !== 'foreign');
  const invalid = ours.filter((f) => f.outcome === 'invalid');
  if (invalid.length > 0) {
    return {
      status: 'invalid',
      reasons: someOf(
        invalid.map((f) => reason(`${f.layout} signature ${f.location}: ${f.reason}`)),
        'signatures that do not verify',
      ),
    };
  }
  const gone = expectedLayouts.filter((layout) => !ours.some((f) => f.layout === layout));
  if (gone.length > 0) {
    return {
      status: 'missing',
      reasons: gone.map((layout) => reason(`the ${layout} signature verified before is gone`)),
    };
  }
  const valid = ours.filter((f) => f.outcome === 'valid');
  if (valid.length > 0) {
    return {
      status: 'valid',
      reasons: someOf(
        valid.map((f) => reason(`${f.layout} signature by ${f.signer} verifies`)),
        'signatures that verify',
      ),
    };
  }
  const disabled = ours.filter((f) => f.outcome === 'key-disabled');
  if (disabled.length > 0) {
    return {
      status: 'key-disabled',
      reasons: someOf(
        disabled.map((f) =>
          reason(`${f.layout} signature by ${f.keyVersion} whose key version is ${f.keyState}`),
        ),
        'signatures by key versions that are not enabled',
      ),
    };
  }
  // Named from the foreign findings a verdict lists, so that the reason is the same whether judged
  // from all of them or from a stored listing.
  const { findings: named, foreignOmitted: unnamed } = listedFindings(
    findings.filter((f) => f.outcome === 'foreign'),
    foreignOmitted,
  );
  return {
    status: 'unsigned',
    reasons: [
      named.length + unnamed === 0
        ? 'no signature in either layout'
        : reason(
            `no signature by an expected key or identity (${joinReasons(
              named.map((f) => f.reason),
              unnamed,
            )})`,
          ),
    ],
  };
}
