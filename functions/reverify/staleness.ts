/**
 * A pass that keeps failing on a tag, a repository or a registry re-verifies nothing there, and its
 * errors reach only the logs: a log or registry outage, or an image that makes the verifier fail,
 * would leave tags unchecked for good while their last verdicts stand. So each subject a pass fails
 * on is kept with the time it was last verified (a tag's recorded verdict) or, never verified, the
 * first pass in a row that failed on it (unverified.ts). A kept subject stays unverified while the
 * pass does not get past it: it fails again, or a listing above it fails (a tag whose log re-check
 * failed, then its repository's tag list). When any has gone unverified for longer than
 * `staleAfterMs`, the pass raises one `verification-stale` alert for its shard naming them, and
 * it resolves that alert once none is left.
 */
import type { AlertInput, AlertSink } from '../alerts/alert.ts';
import { inShard } from './inventory.ts';
import { subjectIdentity as identity, type UnverifiedStore, type UnverifiedSubject } from './unverified.ts';

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

export interface StaleSubject {
  subject: string;
  kind: UnverifiedSubject['kind'];
  since: string;
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
  /** The HOSTs whose catalog and the HOST/REPOs whose tags the pass read (inventory.ts). */
  listed: readonly string[];
  /** The tags the pass took up (its shard's). */
  tags: readonly string[];
  /** Whether the pass's configuration watches a subject at all (a kept one may have left it). */
  covers(subject: UnverifiedSubject): boolean;
  shard?: { index: number; count: number };
}

/** One alert per shard: passes of other shards see other tags, and resolve only their own. */
export function staleAlertKey(shard?: PassScope['shard']): string {
  return `verification-stale:${shardLabel(shard)}`;
}

function shardLabel(shard: PassScope['shard']): string {
  return shard === undefined || shard.count <= 1 ? 'all' : `shard-${shard.index}-of-${shard.count}`;
}

/**
 * Judges the pass's failures and the kept subjects, raises or resolves the shard's alert, then
 * keeps what failed and forgets what the pass got past. Returns what has gone unverified for too
 * long, oldest first. The alert goes first: a store that cannot be read still leaves the failures
 * of tags with verdicts to alert on (and no resolution is made without knowing what is kept); a
 * store that cannot be written does not hold the alert back. Throws (after that) when the store or
 * the sink failed.
 */
export async function followUnverified(deps: StalenessDeps, pass: PassScope): Promise<StaleSubject[]> {
  const at = pass.at.toISOString();
  const scope = shardLabel(pass.shard);
  let kept: Map<string, UnverifiedSubject> | undefined;
  let readError: unknown;
  try {
    kept = new Map((await deps.store.list()).map((s) => [identity(s), s]));
  } catch (err) {
    readError = err;
  }

  const failing = new Map(pass.failures.map((f) => [f.subject, f]));
  const failedListings = pass.failures.filter((f) => f.kind === 'listing');
  const listed = new Set(pass.listed);
  const tags = new Set(pass.tags);
  // A kept subject of this pass's concern: a tag of its shard, a listing kept by this shard.
  const ours = (s: UnverifiedSubject) =>
    s.kind === 'tag' ? inShard(s.subject, pass.shard) : (s.scope ?? 'all') === scope;
  // A listing kept under another shard layout (the shard count changed) is nobody's any more.
  const count = pass.shard === undefined || pass.shard.count <= 1 ? 1 : pass.shard.count;
  const otherLayout = (s: UnverifiedSubject) =>
    s.kind === 'listing' && layoutCount(s.scope ?? 'all') !== count;
  const gotPast = (s: UnverifiedSubject) => {
    if (failing.has(s.subject)) return false;
    if (s.kind === 'listing') return listed.has(s.subject) || listedWithout(listed, failing, s.subject);
    return (
      tags.has(s.subject) ||
      listed.has(repositoryOf(s.subject)) ||
      listedWithout(listed, failing, repositoryOf(s.subject))
    );
  };

  // Since the later of what was kept and the tag's verdict: a verdict made since (by another pass)
  // counts, and a tag never verified counts from the first pass that failed on it.
  const unverified: StaleSubject[] = pass.failures.map((f) => {
    const since = later(kept?.get(identity({ ...f, scope }))?.since, f.lastVerifiedAt) ?? at;
    return { subject: f.subject, kind: f.kind, since, error: f.error };
  });
  const forget: UnverifiedSubject[] = [];
  for (const s of kept?.values() ?? []) {
    if (otherLayout(s)) {
      forget.push(s);
      continue;
    }
    if (!ours(s) || failing.has(s.subject)) continue;
    if (!pass.covers(s) || gotPast(s)) {
      forget.push(s);
      continue;
    }
    // Not failed on, not got past: a listing above it failed, and it is as unverified as before.
    const above = failedListings.find(
      (l) => s.subject.startsWith(`${l.subject}/`) || s.subject.startsWith(`${l.subject}:`),
    );
    unverified.push({ ...s, error: above ? `not listed: ${above.error}` : 'not listed by this pass' });
  }
  const stale = unverified
    .filter((s) => pass.at.getTime() - Date.parse(s.since) >= deps.staleAfterMs)
    .sort((a, b) => a.since.localeCompare(b.since) || a.subject.localeCompare(b.subject));

  const failures: unknown[] = [];
  const key = staleAlertKey(pass.shard);
  const hours = deps.staleAfterMs / 3_600_000;
  try {
    if (stale.length > 0) await deps.alerts.raise(staleAlert(key, stale, hours, pass.shard));
    // Without the kept subjects, nothing can be known to be fine.
    else if (kept !== undefined) {
      await deps.alerts.resolve(
        key,
        `nothing has gone without re-verification for ${hours} h (pass of ${at})`,
      );
    }
  } catch (err) {
    failures.push(err);
  }
  if (kept !== undefined) {
    const keep = pass.failures
      .filter((f) => !kept.has(identity({ ...f, scope })))
      .map(
        (f): UnverifiedSubject => ({
          subject: f.subject,
          kind: f.kind,
          since: f.lastVerifiedAt ?? at,
          ...(f.kind === 'listing' ? { scope } : {}),
        }),
      );
    try {
      if (keep.length > 0) await deps.store.add(keep);
      if (forget.length > 0) await deps.store.remove(forget);
    } catch (err) {
      failures.push(err);
    }
  } else {
    failures.unshift(readError);
  }
  if (failures.length > 0) throw failures[0];
  return stale;
}

function later(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined || b === undefined) return a ?? b;
  return Date.parse(a) >= Date.parse(b) ? a : b;
}

/** The shard count a listing's scope was kept under: 'all' is 1, 'shard-I-of-N' is N. */
function layoutCount(scope: string): number {
  const m = /^shard-\d+-of-(\d+)$/.exec(scope);
  return m === null ? 1 : Number(m[1]);
}

/** HOST/REPO read as absent from its host's catalog (deleted, or no longer matched), not failed. */
function listedWithout(listed: Set<string>, failing: Map<string, PassFailure>, repository: string): boolean {
  const slash = repository.indexOf('/');
  return slash > 0 && listed.has(repository.slice(0, slash)) && !failing.has(repository);
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
    subject:
      shard === undefined || shard.count <= 1
        ? 'reverifyImages'
        : `reverifyImages shard ${shard.index} of ${shard.count}`,
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
