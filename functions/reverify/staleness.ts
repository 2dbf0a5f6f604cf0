/**
 * A pass that keeps failing on a tag, a repository or a registry re-verifies nothing there, and its
 * errors reach only the logs: a log or registry outage, or an image that makes the verifier fail,
 * would leave tags unchecked for good while their last verdicts stand. So when something has gone
 * without a verdict for longer than `staleAfterMs` (a tag since its recorded verdict; a tag never
 * verified, or a listing, since the first pass in a row that failed on it: unverified.ts), the pass
 * raises one `verification-stale` alert for its shard naming each of them, and resolves it once
 * none is left.
 */
import type { AlertInput, AlertSink } from '../alerts/alert.ts';
import { inShard } from './inventory.ts';
import type { UnverifiedStore, UnverifiedSubject } from './unverified.ts';

/** Stale subjects an alert names; the count says how many there are in all. */
const EVIDENCE_LIMIT = 100;

/** Something a pass could not verify (a tag) or list (a registry's catalog, a repository's tags). */
export interface PassFailure {
  subject: string;
  kind: UnverifiedSubject['kind'];
  error: string;
  /** When the tag's recorded verdict was made; none for a tag never verified, and for a listing. */
  lastVerifiedAt?: string;
}

export interface StaleSubject extends UnverifiedSubject {
  error: string;
}

export interface StalenessDeps {
  store: UnverifiedStore;
  alerts: AlertSink;
  staleAfterMs: number;
}

export interface PassScope {
  at: Date;
  failures: readonly PassFailure[];
  /** The HOSTs and HOST/REPOs the pass listed (inventory.ts). */
  listed: readonly string[];
  /** The tags the pass took up (its shard's). */
  tags: readonly string[];
  shard?: { index: number; count: number };
}

/** One alert per shard: passes of other shards see other tags, and resolve only their own. */
export function staleAlertKey(shard?: PassScope['shard']): string {
  return `verification-stale:${shard === undefined ? 'all' : `shard-${shard.index}-of-${shard.count}`}`;
}

/**
 * Keeps the failing subjects' start times, and raises or resolves the shard's alert. Returns what
 * has gone unverified for too long, oldest first. Throws (DependencyError, AlertDeliveryError) when
 * the store or the alert sink fails: the caller reports it as the pass's error.
 */
export async function followUnverified(deps: StalenessDeps, pass: PassScope): Promise<StaleSubject[]> {
  const recorded = new Map((await deps.store.list()).map((s) => [s.subject, s]));
  const failing = new Map(pass.failures.map((f) => [f.subject, f]));
  const at = pass.at.toISOString();

  const added = pass.failures
    .filter((f) => f.lastVerifiedAt === undefined && !recorded.has(f.subject))
    .map((f): UnverifiedSubject => ({ subject: f.subject, kind: f.kind, since: at }));
  // Only what this pass looked at is forgotten: a pass of another shard, or one run with another
  // configuration (the CLI), leaves the rest. A tag no longer in its listed repository is forgotten.
  const listed = new Set(pass.listed);
  const tags = new Set(pass.tags);
  const met = (s: UnverifiedSubject) =>
    s.kind === 'listing'
      ? listed.has(s.subject)
      : tags.has(s.subject) || (inShard(s.subject, pass.shard) && listed.has(repositoryOf(s.subject)));
  const gotPast = [...recorded.values()]
    .filter((s) => !failing.has(s.subject) && met(s))
    .map((s) => s.subject);
  if (added.length > 0) await deps.store.add(added);
  if (gotPast.length > 0) await deps.store.remove(gotPast);

  const stale = pass.failures
    .map(
      (f): StaleSubject => ({
        subject: f.subject,
        kind: f.kind,
        since: f.lastVerifiedAt ?? recorded.get(f.subject)?.since ?? at,
        error: f.error,
      }),
    )
    .filter((s) => pass.at.getTime() - Date.parse(s.since) >= deps.staleAfterMs)
    .sort((a, b) => a.since.localeCompare(b.since) || a.subject.localeCompare(b.subject));

  const key = staleAlertKey(pass.shard);
  const hours = deps.staleAfterMs / 3_600_000;
  if (stale.length === 0) {
    await deps.alerts.resolve(key, `nothing has gone without re-verification for ${hours} h (pass of ${at})`);
    return stale;
  }
  await deps.alerts.raise(staleAlert(key, stale, hours, pass.shard));
  return stale;
}

/** HOST/REPO of HOST/REPO:TAG (a tag has no ':', a host's port comes before the first '/'). */
function repositoryOf(ref: string): string {
  return ref.slice(0, ref.lastIndexOf(':'));
}

function staleAlert(
  key: string,
  stale: StaleSubject[],
  hours: number,
  shard: PassScope['shard'],
): AlertInput {
  const tags = stale.filter((s) => s.kind === 'tag').length;
  const listings = stale.length - tags;
  const counted = [
    ...(tags > 0 ? [`${tags} tag${tags === 1 ? '' : 's'}`] : []),
    ...(listings > 0
      ? [`${listings} repositor${listings === 1 ? 'y or registry' : 'ies or registries'}`]
      : []),
  ].join(' and ');
  const oldest = stale[0]!;
  return {
    kind: 'verification-stale',
    severity: 'HIGH',
    subject: shard === undefined ? 'reverifyImages' : `reverifyImages shard ${shard.index} of ${shard.count}`,
    key,
    summary: `${counted} not re-verified for over ${hours} h; the oldest, ${oldest.subject}, since ${oldest.since}: ${oldest.error}`,
    evidence: {
      staleAfterHours: hours,
      unverifiedCount: stale.length,
      unverified: stale.slice(0, EVIDENCE_LIMIT),
      verifierOutput: stale
        .slice(0, EVIDENCE_LIMIT)
        .map((s) => `${s.subject} (since ${s.since}): ${s.error}`)
        .join('\n'),
    },
  };
}
