/**
 * Verdict changes as alerts. A tag has at most one open alert per kind; the alert of its current
 * verdict is raised when the verdict (or the digest) changes, and every other kind is resolved,
 * except those only an operator resolves (below).
 * The verdict is stored with a claim on delivering them first (core.ts), so a failed delivery is made
 * again by the next pass.
 */
import type { AlertInput, AlertKind, AlertSeverity, AlertSink } from '../alerts/alert.ts';
import type { Verdict, VerdictStatus } from '../verify/verdict.ts';

export const TAG_ALERT_KINDS: readonly AlertKind[] = [
  'unsigned-image',
  'signature-invalid',
  'signature-missing',
  'key-disabled',
  'tag-moved',
];

const BY_STATUS: Record<
  Exclude<VerdictStatus, 'valid'>,
  { kind: AlertKind; severity: AlertSeverity; what: string }
> = {
  unsigned: {
    kind: 'unsigned-image',
    severity: 'HIGH',
    what: 'points to a digest no expected signer signed',
  },
  invalid: {
    kind: 'signature-invalid',
    severity: 'CRITICAL',
    what: 'carries a signature that does not verify',
  },
  missing: { kind: 'signature-missing', severity: 'HIGH', what: 'lost a signature that verified before' },
  'key-disabled': {
    kind: 'key-disabled',
    severity: 'HIGH',
    what: 'is signed only by a KMS key version that is not enabled',
  },
};

/**
 * Kinds a pass raises but never resolves. A signature that does not verify is evidence of tampering
 * (or of a log that lost an entry): whoever planted a forgery could otherwise close the incident by
 * removing it. The incident stays open, with its evidence, until an operator resolves it
 * (`sigsentry alerts resolve KEY --reason`); it re-opens if it happens again after that.
 */
export const RESOLVED_BY_OPERATOR: readonly AlertKind[] = ['signature-invalid'];

export function tagAlertKey(kind: AlertKind, ref: string): string {
  return `${kind}:${ref}`;
}

/**
 * The key of a tag's alert that it could not be judged (core.ts raiseUnjudged): a `signature-invalid`
 * of its own, apart from the tag's forgery incident (tagAlertKey), because a pass resolves it once
 * it judges the tag again (staleness.ts), and must never resolve that one. A prefix no alert kind
 * has, so no tag's forgery key is ever another tag's unjudged key: a registry may list a tag that
 * holds a colon (`prod:unjudged`), which a suffix would have let collide (found by review).
 */
export function unjudgedAlertKey(ref: string): string {
  return `unjudged-signature:${ref}`;
}

export interface TagChange {
  ref: string;
  verdict: Verdict;
  previous: { status: VerdictStatus; digest: string } | undefined;
  /**
   * When the verdict changed to this one (its record's `changedAt`): the raises' `occurrence`, so a
   * change delivered again is a repeat and a later change to the same status is news.
   */
  occurrence?: string;
}

/**
 * Findings an alert's evidence shows at most, the rest counted (`findingsNotShown`): an alert is a
 * notice, the tag's record lists more, and a raise owed again is kept on that record (store.ts
 * TagDelivery.overtaken), so its size counts there too.
 */
export const MAX_EVIDENCE_FINDINGS = 20;

/** The verdict's findings as evidence: the first few, and how many it holds that they leave out. */
function findingsEvidence(verdict: Verdict): Record<string, unknown> {
  const shown = verdict.findings.slice(0, MAX_EVIDENCE_FINDINGS);
  const notShown = verdict.findings.length - shown.length;
  return {
    findings: shown.map((f) => ({
      layout: f.layout,
      location: f.location,
      outcome: f.outcome,
      reason: f.reason,
      ...(f.copies ? { copies: f.copies } : {}),
    })),
    ...(notShown > 0 ? { findingsNotShown: notShown } : {}),
    ...(verdict.foreignOmitted ? { foreignFindingsOmitted: verdict.foreignOmitted } : {}),
    ...(verdict.oursOmitted ? { findingsOmitted: verdict.oursOmitted } : {}),
  };
}

function evidenceOf(change: TagChange): AlertInput['evidence'] {
  const { verdict } = change;
  const key = verdict.findings.find((f) => f.keyVersion !== undefined);
  const identity = verdict.findings.find((f) => f.issuer !== undefined);
  const log = verdict.findings.flatMap((f) => f.log ?? [])[0];
  return {
    image: verdict.image,
    digest: verdict.digest,
    tag: change.ref,
    ...(key?.keyVersion ? { keyVersion: key.keyVersion } : {}),
    ...(identity?.signer ? { identity: `${identity.signer} (${identity.issuer})` } : {}),
    ...(log ? { logIndex: log.logIndex } : {}),
    verifierOutput: verdict.reasons.join('\n'),
    ...(change.previous
      ? { previousDigest: change.previous.digest, previousStatus: change.previous.status }
      : {}),
    ...findingsEvidence(verdict),
    signatureManifest: verdict.evidence.signatureManifest,
    referrers: verdict.evidence.referrers,
  };
}

/** The alerts to raise and the keys to resolve for a change; nothing when nothing changed. */
export function alertsForChange(change: TagChange): { raise: AlertInput[]; resolve: string[] } {
  const { verdict, previous, ref } = change;
  const moved = previous !== undefined && previous.digest !== verdict.digest;
  if (previous === undefined ? verdict.status === 'valid' : !moved && previous.status === verdict.status) {
    return { raise: [], resolve: [] };
  }
  const raise: AlertInput[] = [];
  const occurrence = change.occurrence === undefined ? {} : { occurrence: change.occurrence };
  if (verdict.status !== 'valid') {
    const { kind, severity, what } = BY_STATUS[verdict.status];
    raise.push({
      kind,
      severity,
      subject: ref,
      key: tagAlertKey(kind, ref),
      summary: `${ref} ${what}: ${verdict.reasons[0] ?? verdict.status}`,
      evidence: evidenceOf(change),
      ...occurrence,
    });
    if (moved) {
      raise.push({
        kind: 'tag-moved',
        severity: 'MEDIUM',
        subject: ref,
        key: tagAlertKey('tag-moved', ref),
        summary: `${ref} moved from ${previous.digest} to ${verdict.digest}, which is ${verdict.status}`,
        evidence: evidenceOf(change),
        ...occurrence,
      });
    }
  }
  const raised = new Set(raise.map((a) => a.kind));
  const resolve = TAG_ALERT_KINDS.filter((k) => !raised.has(k) && !RESOLVED_BY_OPERATOR.includes(k)).map(
    (k) => tagAlertKey(k, ref),
  );
  return { raise, resolve };
}

/**
 * The keys of the alerts a change leaves open that it would otherwise resolve: those of kinds only
 * an operator resolves, raised for the verdict it changes from (a tag valid again after a forgery).
 */
export function keptOpenBy(change: TagChange): string[] {
  const { previous, verdict, ref } = change;
  if (previous === undefined || previous.status === 'valid' || previous.status === verdict.status) return [];
  const { kind } = BY_STATUS[previous.status];
  return RESOLVED_BY_OPERATOR.includes(kind) ? [tagAlertKey(kind, ref)] : [];
}

/**
 * The raises of a change that a newer change cannot replace: those of kinds only an operator
 * resolves. A change whose delivery lapsed unfinished is replaced by the next one (its resolves
 * would be wrong after it), but a forgery removed before its alert went out must still be told.
 */
export function overtakenRaises(change: TagChange): AlertInput[] {
  return alertsForChange(change).raise.filter((a) => RESOLVED_BY_OPERATOR.includes(a.kind));
}

/** `alerts` without repeats of one occurrence of one incident (kept first), at most `max` of them. */
export function distinctRaises(alerts: readonly AlertInput[], max = 8): AlertInput[] {
  const seen = new Set<string>();
  return alerts
    .filter((a) => {
      const id = `${a.key ?? a.kind}|${a.occurrence ?? ''}`;
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    })
    .slice(-max);
}

/**
 * Raises, then resolves, the alerts of a change. `before` runs before each call (core.ts renews its
 * delivery claim there, and throws to stop when another pass has taken the tag).
 */
export async function deliverAlerts(
  sink: AlertSink,
  change: TagChange,
  before: () => Promise<void> = async () => {},
  /** Raises an earlier change still owed when this one replaced it (overtakenRaises), told first. */
  overtaken: readonly AlertInput[] = [],
): Promise<{ raised: number; resolved: number }> {
  const { raise: own, resolve } = alertsForChange(change);
  const raise = [...overtaken, ...own];
  for (const alert of raise) {
    await before();
    await sink.raise(alert);
  }
  const reason = `${change.ref} is now ${change.verdict.status} (${change.verdict.digest})`;
  for (const key of resolve) {
    await before();
    await sink.resolve(key, reason);
  }
  return { raised: raise.length, resolved: resolve.length };
}
