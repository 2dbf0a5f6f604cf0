/**
 * What the verifier concludes about one image digest. A verdict names every signature it looked at
 * (a finding), so an operator reading an alert sees which signature failed, where it lives in the
 * registry, and which log entry backs it.
 */

import { boundText, jsonBytes, MAX_REASON_CHARS } from '../logging/bounded.ts';
import { canonicalJson } from '../tlog/entries/canonical.ts';

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
/** The outcomes of findings that claim an expected signer. */
export type OurOutcome = Exclude<FindingOutcome, 'foreign'>;

export interface SignatureFinding {
  layout: SignatureLayout;
  /** The `.sig` layer digest (its payload blob) or the referrer manifest digest. */
  location: string;
  /**
   * A bundle read from a referrer: the digest of its blob (the referrer's layer). With `location`,
   * what a verified signature was read from, which reverifyImages checks is still there before
   * reusing the verdict (absent in older records: such a verdict is verified afresh once).
   */
  bundleBlob?: string;
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
  /**
   * Findings the verdict does not list because they are this one but for their location (the same
   * signature attached again): counted here, judged and re-checked as this one is (listedFindings).
   */
  copies?: number;
}

/** Findings a verdict counts without listing them (listedFindings); an absent field is none. */
export interface FindingsOmitted {
  /** Foreign findings not listed. */
  foreignOmitted?: number;
  /** Findings that claim an expected signer not listed, by outcome (absent in older records). */
  oursOmitted?: Partial<Record<OurOutcome, number>>;
}

export interface Verdict extends FindingsOmitted {
  status: VerdictStatus;
  /** HOST/REPO@sha256:… */
  image: string;
  digest: string;
  reasons: string[];
  /**
   * The findings as listedFindings lists them, the rest counted (`copies`, `foreignOmitted`,
   * `oursOmitted`): anyone who can push may attach thousands of signatures, and the verdict is
   * stored whole in one Firestore entity (1 MiB at most).
   */
  findings: SignatureFinding[];
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
 * Findings a verdict lists at most of each group (listingGroup); the rest are counted. Anyone who
 * can push may attach thousands of signatures, by others or claiming to be ours, and a verdict is
 * stored whole in one Firestore entity (1 MiB at most).
 */
export const MAX_LISTED_FINDINGS = 50;
/**
 * And the bytes (JSON) a group's listing takes at most. A bounded finding is a few hundred bytes as
 * a rule, yet up to some 30 KB (4,096 characters of reason and 1,024 of each other text, three UTF-8
 * bytes each): so a listing takes 150 KiB at most, besides the first finding of each outcome in each
 * layout, which is always listed.
 */
export const MAX_LISTED_BYTES = 48 * 1024;

const OUR_OUTCOMES: readonly OurOutcome[] = ['invalid', 'valid', 'key-disabled'];

/**
 * How a finding is listed. `verified`: a signature that verified (valid, key-disabled, or made
 * invalid by the log re-check alone: marked so, or carrying the log entries only a verified signature
 * has), whose outcome a pass judging the tag again from its record may change (reverify/core.ts
 * re-checks log inclusion and key states). Its copies are counted on it, so every distinct one is
 * re-checked and its copies follow it. `failed` (claims an expected signer, does not verify) and
 * `foreign` stay what they are: past the first ones they are only counted.
 */
type ListingGroup = 'verified' | 'failed' | 'foreign';

function listingGroup(f: SignatureFinding): ListingGroup {
  if (f.outcome === 'foreign') return 'foreign';
  if (f.outcome !== 'invalid' || f.inclusionRecheckFailed === true) return 'verified';
  return (f.log?.length ?? 0) > 0 ? 'verified' : 'failed';
}

/** How many findings `f` stands for: itself and its copies. */
const weight = (f: SignatureFinding) => 1 + (f.copies ?? 0);

/** `f` without its count of copies. */
function withoutCopies(f: SignatureFinding): SignatureFinding {
  const { copies: _copies, ...one } = f;
  return one;
}

/** What two copies of one signature share: everything but where they are (referrer and blob). */
function copyKey(f: SignatureFinding): string {
  const { location: _location, bundleBlob: _blob, ...rest } = withoutCopies(f);
  return canonicalJson(rest);
}

/** A verdict's counts of findings not listed, every outcome's (absent fields read as none). */
function omittedCounts(omitted: FindingsOmitted): Record<FindingOutcome, number> {
  const ours = omitted.oursOmitted ?? {};
  return {
    foreign: omitted.foreignOmitted ?? 0,
    invalid: ours.invalid ?? 0,
    valid: ours.valid ?? 0,
    'key-disabled': ours['key-disabled'] ?? 0,
  };
}

/** The counts as a verdict and a tag record keep them: only those that are not zero. */
function omittedFields(counts: Record<FindingOutcome, number>): FindingsOmitted {
  const ours = OUR_OUTCOMES.filter((o) => counts[o] > 0);
  return {
    ...(counts.foreign > 0 ? { foreignOmitted: counts.foreign } : {}),
    ...(ours.length > 0 ? { oursOmitted: Object.fromEntries(ours.map((o) => [o, counts[o]])) } : {}),
  };
}

/** The counts of unlisted findings `value` (a verdict, a tag record) keeps, and nothing else of it. */
export function omittedOf(value: FindingsOmitted): FindingsOmitted {
  return omittedFields(omittedCounts(value));
}

/** What a group has listed so far; `full` once one of it did not fit, the rest then counted. */
interface Shelf {
  count: number;
  bytes: number;
  full: boolean;
}

/** Whether a finding of `size` bytes (as JSON) still fits on `shelf`. */
const fits = (shelf: Shelf, size: number) =>
  !shelf.full && shelf.count < MAX_LISTED_FINDINGS && shelf.bytes + size <= MAX_LISTED_BYTES;

/** `listed` with `more` findings counted among its copies. */
const withMoreCopies = (listed: SignatureFinding, more: number): SignatureFinding => ({
  ...listed,
  copies: weight(listed) - 1 + more,
});

/**
 * The findings a verdict lists, bounded (boundFinding), in their order, and the counts of those it
 * does not (`omitted`: already left out before, as a stored verdict's are). A verified signature
 * attached again elsewhere is counted on the first (`copies`). Of each group, MAX_LISTED_FINDINGS
 * within MAX_LISTED_BYTES are listed, and always the first finding of each outcome in each layout
 * (of a verified signature, of each signer too): a status follows from which outcomes there are,
 * `missing` from which layouts hold a signature of ours, and a re-check from each signer's key
 * state, so the listing decides what all of them decide (decideStatus). The rest are counted by
 * outcome, and are never re-checked: past MAX_LISTED_FINDINGS distinct verified signatures of one
 * digest (each its own signing) their count stands as it was, though each signer keeps one listed.
 * Listing a listed set again changes nothing.
 */
export function listedFindings(
  findings: readonly SignatureFinding[],
  omitted: FindingsOmitted = {},
): { findings: SignatureFinding[]; omitted: FindingsOmitted } {
  const listed: SignatureFinding[] = [];
  const counts = omittedCounts(omitted);
  const shelves: Record<ListingGroup, Shelf> = {
    verified: { count: 0, bytes: 0, full: false },
    failed: { count: 0, bytes: 0, full: false },
    foreign: { count: 0, bytes: 0, full: false },
  };
  const placesListed = new Set<string>();
  /** Where each verified signature is listed, by copyKey. */
  const originals = new Map<string, number>();
  for (const f of findings) {
    const group = listingGroup(f);
    const shelf = shelves[group];
    // A verified signature is kept for each signer too: a re-check judges each key version's
    // state, so one signer crowded out of the listing would have its verdict decided by another's.
    // The signers are the policy's expected keys and identities, so these stay few.
    const signer = group === 'verified' ? `|${f.keyVersion ?? ''}|${f.signer ?? ''}|${f.issuer ?? ''}` : '';
    const place = `${group}|${f.outcome}|${f.layout}${signer}`;
    const first = !placesListed.has(place);
    // A flood past a full group is counted without bounding each of it; copies are looked for first.
    if (!first && shelf.full && group !== 'verified') {
      counts[f.outcome] += weight(f);
      continue;
    }
    const bounded = boundFinding(f);
    const key = group === 'verified' ? copyKey(bounded) : undefined;
    const original = key === undefined ? undefined : originals.get(key);
    if (original !== undefined) {
      listed[original] = withMoreCopies(listed[original]!, weight(f));
      continue;
    }
    // Sized without its count of copies, which grows as copies are met: listed again, it still fits.
    const size = jsonBytes(withoutCopies(bounded));
    if (!first && !fits(shelf, size)) {
      shelf.full = true;
      counts[f.outcome] += weight(f);
      continue;
    }
    if (key !== undefined) originals.set(key, listed.length);
    listed.push(bounded);
    placesListed.add(place);
    shelf.count++;
    shelf.bytes += size;
  }
  return { findings: listed, omitted: omittedFields(counts) };
}

/** A verdict's reason, as it is stored and alerted: one bounded sentence. */
const reason = (text: string) => boundText(text, MAX_REASON_CHARS);

/** Reasons a verdict lists at most: one per signature, and a registry may hold thousands. */
export const MAX_REASONS = 20;

/** What "… and N more" counts, for one and for several. */
type Counted = readonly [one: string, several: string];

/**
 * One reason per listed finding, at most MAX_REASONS: past that, or when some are counted rather
 * than listed (their copies, `omitted` more), the last says how many more there are, so the count
 * is all of them however they are listed.
 */
function someOf(
  listed: readonly SignatureFinding[],
  omitted: number,
  text: (f: SignatureFinding) => string,
  what: Counted,
): string[] {
  const total = listed.reduce((n, f) => n + weight(f), omitted);
  if (total === listed.length && total <= MAX_REASONS) return listed.map((f) => reason(text(f)));
  const kept = listed.slice(0, MAX_REASONS - 1).map((f) => reason(text(f)));
  const more = total - kept.length;
  return [...kept, `… and ${more} more ${more === 1 ? what[0] : what[1]}`];
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
 * Foreign findings decide nothing (they only name the others' signers in an `unsigned` reason).
 * Findings not listed (`omitted`, and each finding's `copies`: listedFindings) change no status,
 * which the listed ones decide as all of them would, only the counts the reasons give: a verdict
 * judged from a stored listing reads as it did.
 */
export function decideStatus(
  findings: readonly SignatureFinding[],
  expectedLayouts: readonly SignatureLayout[] = [],
  omitted: FindingsOmitted = {},
): { status: VerdictStatus; reasons: string[] } {
  const counts = omittedCounts(omitted);
  const ours = findings.filter((f) => f.outcome !== 'foreign');
  const invalid = ours.filter((f) => f.outcome === 'invalid');
  if (invalid.length > 0) {
    return {
      status: 'invalid',
      reasons: someOf(invalid, counts.invalid, (f) => `${f.layout} signature ${f.location}: ${f.reason}`, [
        'signature that does not verify',
        'signatures that do not verify',
      ]),
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
      reasons: someOf(valid, counts.valid, (f) => `${f.layout} signature by ${f.signer} verifies`, [
        'signature that verifies',
        'signatures that verify',
      ]),
    };
  }
  const disabled = ours.filter((f) => f.outcome === 'key-disabled');
  if (disabled.length > 0) {
    return {
      status: 'key-disabled',
      reasons: someOf(
        disabled,
        counts['key-disabled'],
        (f) => `${f.layout} signature by ${f.keyVersion} whose key version is ${f.keyState}`,
        ['signature by a key version that is not enabled', 'signatures by key versions that are not enabled'],
      ),
    };
  }
  // Named from the foreign findings a verdict lists, so that the reason is the same whether judged
  // from all of them or from a stored listing.
  const { findings: named, omitted: unnamed } = listedFindings(
    findings.filter((f) => f.outcome === 'foreign'),
    { foreignOmitted: counts.foreign },
  );
  const unnamedCount = unnamed.foreignOmitted ?? 0;
  return {
    status: 'unsigned',
    reasons: [
      named.length + unnamedCount === 0
        ? 'no signature in either layout'
        : reason(
            `no signature by an expected key or identity (${joinReasons(
              named.map((f) => f.reason),
              unnamedCount,
            )})`,
          ),
    ],
  };
}
