/**
 * A pass that keeps failing on a tag, a repository or a registry re-verifies nothing there, and its
 * errors reach only the logs: a log or registry outage, or an image that makes the verifier fail,
 * would leave tags unchecked for good while their last verdicts stand. So each subject a pass fails
 * on is kept with the time it was last verified (a tag's recorded verdict) or, never verified, the
 * first pass in a row that failed on it (unverified.ts). A kept subject stays unverified while the
 * pass does not get past it: it fails again, or a listing above it fails (a tag whose log re-check
 * failed, then its repository's tag list; a tag or repository its host's catalog leaves out while a
 * watch rule matching it matches nothing there). A watch rule the catalog lists nothing for is such
 * a subject too: nothing it watches is verified. When any has gone unverified for longer than
 * `staleAfterMs`, the pass raises one `verification-stale` alert for its shard naming them, and
 * it resolves that alert once none is left. A tag kept for a failure nothing foresaw, whose own
 * alert says it could not be judged (core.ts raiseUnjudged), is kept marked so, and the pass that
 * judges it again resolves that alert as it forgets the tag.
 */
import type { AlertInput, AlertSink } from '../alerts/alert.ts';
import { matchesGlob } from '../config/glob.ts';
import { unjudgedAlertKey } from './alerts.ts';
import { inShard, repositoryOf } from './inventory.ts';
import {
  subjectIdentity as identity,
  scopeOf,
  type UnverifiedStore,
  type UnverifiedSubject,
} from './unverified.ts';

/** Stale subjects an alert names; the count says how many there are in all. */
const EVIDENCE_LIMIT = 100;

/**
 * Something a pass could not verify (a tag) or list (a registry's catalog, a repository's tags), or
 * a watch rule (its glob) its host's catalog lists no repository for.
 */
export interface PassFailure {
  subject: string;
  kind: UnverifiedSubject['kind'];
  error: string;
  /** When the tag's recorded verdict was made; none for a tag never verified, and for a listing. */
  lastVerifiedAt?: string;
  /** A tag whose unjudged alert the pass raised: resolved by the pass that judges it again. */
  unjudged?: boolean;
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
  /**
   * Those of them whose verdict was stored during the pass (by it, or by another as it gave up):
   * judged, so a kept tag's unjudged alert is resolved.
   */
  judged?: readonly string[];
  /** Whether the pass's configuration watches a subject at all (a kept one may have left it). */
  covers(subject: UnverifiedSubject): boolean;
  /** The times of these tags' verdicts under the pass's own configuration (none for another's). */
  lastVerified?(refs: readonly string[]): Promise<Map<string, string>>;
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
  const failures: unknown[] = [];
  let kept: Map<string, UnverifiedSubject> | undefined;
  try {
    kept = new Map((await deps.store.list()).map((s) => [identity(s), s]));
  } catch (err) {
    failures.push(err);
  }
  const { unverified, hidden, keep, forget } = judge(pass, kept, deps.staleAfterMs);

  // A hidden tag verified since it was kept (by a manual pass of this configuration) counts from then.
  const hiddenTags = hidden.filter((s) => s.kind === 'tag').map((s) => s.subject);
  if (pass.lastVerified !== undefined && hiddenTags.length > 0) {
    try {
      const verdicts = await pass.lastVerified(hiddenTags);
      for (const s of hidden) s.since = later(s.since, verdicts.get(s.subject)) ?? s.since;
    } catch (err) {
      // Judged on what was kept, which can only be older: an alert too early, never one missed.
      failures.push(err);
    }
  }
  const stale = [...unverified, ...hidden]
    .filter((s) => pass.at.getTime() - Date.parse(s.since) >= deps.staleAfterMs)
    .sort((a, b) => a.since.localeCompare(b.since) || a.subject.localeCompare(b.subject));

  const key = staleAlertKey(pass.shard);
  const hours = deps.staleAfterMs / 3_600_000;
  try {
    if (stale.length > 0) await deps.alerts.raise(staleAlert(key, stale, hours, pass.shard));
    // Without the kept subjects, nothing can be known to be fine.
    else if (kept !== undefined) {
      await deps.alerts.resolve(
        key,
        `nothing has gone without re-verification for ${hours} h (pass of ${pass.at.toISOString()})`,
      );
    }
  } catch (err) {
    failures.push(err);
  }
  // A tag kept unjudged is forgotten once its alert is resolved: until then, the next pass that
  // judges it tries again.
  const unresolved = await resolveJudged(deps.alerts, pass, forget, failures);
  const forgotten = forget.filter((s) => !unresolved.has(s));
  if (kept !== undefined) {
    // Each on its own: a failed keep must not leave what was got past kept (its old since would
    // alert at once on its next failure), nor a failed forget hold back what failed.
    for (const [what, write] of [
      [forgotten, () => deps.store.remove(forgotten)],
      [keep, () => deps.store.add(keep)],
    ] as const) {
      if (what.length === 0) continue;
      try {
        await write();
      } catch (err) {
        failures.push(err);
      }
    }
  }
  if (failures.length > 0) throw failures[0];
  return stale;
}

/**
 * Resolves the unjudged alert of each tag to forget that is kept marked so and that the pass judged
 * (a tag forgotten otherwise, deleted or no longer watched, keeps it open for an operator, as its
 * other alerts are). Returns those whose resolution failed (the failures added to `failures`).
 */
async function resolveJudged(
  alerts: AlertSink,
  pass: PassScope,
  forget: readonly UnverifiedSubject[],
  failures: unknown[],
): Promise<Set<UnverifiedSubject>> {
  const judged = new Set(pass.judged ?? []);
  const unresolved = new Set<UnverifiedSubject>();
  for (const s of forget) {
    if (s.kind !== 'tag' || s.unjudged !== true || !judged.has(s.subject)) continue;
    try {
      await alerts.resolve(
        unjudgedAlertKey(s.subject),
        `${s.subject} was judged again (pass of ${pass.at.toISOString()}): its verdict is recorded, and alerted on if it is not valid`,
      );
    } catch (err) {
      unresolved.add(s);
      failures.push(err);
    }
  }
  return unresolved;
}

interface Judgement {
  /** The pass's failures, each with since when it has gone unverified. */
  unverified: StaleSubject[];
  /** Kept subjects the pass neither failed on nor got past: a listing above them failed. */
  hidden: StaleSubject[];
  /** Failures to keep (first seen, or kept before and now to be marked unjudged), and kept subjects to forget. */
  keep: UnverifiedSubject[];
  forget: UnverifiedSubject[];
}

/** What a pass's failures and listings say about each subject, given what was kept (if known). */
function judge(
  pass: PassScope,
  kept: Map<string, UnverifiedSubject> | undefined,
  staleAfterMs: number,
): Judgement {
  const at = pass.at.toISOString();
  const scope = shardLabel(pass.shard);
  const keptListings = [...(kept?.values() ?? [])].filter((s) => s.kind === 'listing');
  const failing = new Map(pass.failures.map((f) => [failingKey(f), f]));
  const failingRules = pass.failures.filter((f) => f.kind === 'watch-rule');
  /** A failing watch rule that matches a repository (HOST/REPO) its host's catalog left out. */
  const ruleHiding = (repository: string) => failingRules.find((r) => matchesGlob(r.subject, repository));
  const listed = new Set(pass.listed);
  const tags = new Set(pass.tags);
  // A kept subject of this pass's concern: a tag of its shard, a listing kept by this shard.
  const ours = (s: UnverifiedSubject) =>
    s.kind === 'tag' ? inShard(s.subject, pass.shard) : scopeOf(s) === scope;
  // A listing kept under another shard count: nobody's since the layout changed.
  const otherLayout = (s: UnverifiedSubject) =>
    s.kind !== 'tag' && layoutCount(scopeOf(s)) !== layoutCount(scope);
  /** Left out of its host's catalog, read: deleted or no longer matched, unless a failing rule explains it. */
  const absent = (repository: string) =>
    listedWithout(listed, failing, repository) && ruleHiding(repository) === undefined;
  const gotPast = (s: UnverifiedSubject) => {
    if (failing.has(failingKey(s))) return false;
    // A watch rule not failing while its host's catalog was read matched a repository.
    if (s.kind === 'watch-rule') return listed.has(hostOf(s.subject));
    if (s.kind === 'listing') return listed.has(s.subject) || absent(s.subject);
    const repository = repositoryOf(s.subject);
    return tags.has(s.subject) || listed.has(repository) || absent(repository);
  };
  /** The earliest since of a kept listing of this shard above the subject (its host, its repository). */
  const keptAbove = (subject: string) =>
    earliest(
      keptListings.filter((l) => (scopeOf(l) === scope || otherLayout(l)) && isUnder(l.subject, subject)),
    );

  /**
   * Since when a subject failing for the first time has gone unverified. A tag's verdict when it is
   * recent, or when a kept listing above hid the tag since; a listing above that failed first (a host,
   * then one of its repositories), or the same listing kept under another shard layout; else now: a
   * tag whose verdict is old without a failure to explain it was away (deleted, unwatched) and counts
   * afresh.
   */
  const firstSince = (f: PassFailure): string => {
    const above = keptAbove(f.subject);
    if (f.kind !== 'tag') {
      // Under another layout only: a sibling shard of this layout keeps its own clock.
      const same = [...(kept?.values() ?? [])].filter(
        (l) => l.kind === f.kind && l.subject === f.subject && otherLayout(l),
      );
      return earliest([...same, ...(above ? [{ since: above }] : [])]) ?? at;
    }
    const verdict = f.lastVerifiedAt;
    // Without what was kept (the store unreadable), the verdict is the best evidence there is.
    const explained = above !== undefined || kept === undefined;
    if (verdict !== undefined && (explained || pass.at.getTime() - Date.parse(verdict) < staleAfterMs)) {
      return verdict;
    }
    return above ?? at;
  };

  const keep: UnverifiedSubject[] = [];
  const unverified = pass.failures.map((f): StaleSubject => {
    const held = kept?.get(identity({ ...f, scope }));
    const unjudged = f.kind === 'tag' && f.unjudged === true ? { unjudged: true as const } : {};
    if (held === undefined) {
      const since = firstSince(f);
      keep.push({
        subject: f.subject,
        kind: f.kind,
        since,
        ...(f.kind !== 'tag' ? { scope } : {}),
        ...unjudged,
      });
      return { subject: f.subject, kind: f.kind, since, error: f.error };
    }
    // Kept for an earlier failure: marked now (its since stands), for its alert to be resolved.
    if (f.unjudged === true && held.unjudged !== true) keep.push({ ...held, ...unjudged });
    // A verdict made since the subject was kept (by another pass) counts.
    return {
      subject: f.subject,
      kind: f.kind,
      since: later(held.since, f.lastVerifiedAt) ?? held.since,
      error: f.error,
    };
  });
  const hidden: StaleSubject[] = [];
  const forget: UnverifiedSubject[] = [];
  for (const s of kept?.values() ?? []) {
    if (failing.has(failingKey(s))) continue;
    // Another shard's listing is its own; one kept under another shard count is nobody's, and is
    // forgotten once this pass has listed it (until then its since may yet be inherited).
    if (!ours(s)) {
      if (otherLayout(s) && gotPast(s)) {
        forget.push(s);
      }
    } else if (!pass.covers(s) || gotPast(s)) {
      forget.push(s);
    } else {
      const above =
        pass.failures.find((l) => l.kind === 'listing' && isUnder(l.subject, s.subject)) ??
        (s.kind === 'watch-rule'
          ? undefined
          : ruleHiding(s.kind === 'tag' ? repositoryOf(s.subject) : s.subject));
      hidden.push({
        subject: s.subject,
        kind: s.kind,
        since: s.since,
        error: above ? `not listed: ${above.error}` : 'not listed by this pass',
      });
    }
  }
  // Without what was kept, nothing is kept: the next pass that can read it decides.
  return { unverified, hidden, keep: kept === undefined ? [] : keep, forget };
}

/** A watch rule's glob may name a repository exactly: its failure is told apart from the repository's. */
function failingKey(s: Pick<PassFailure, 'subject' | 'kind'>): string {
  return s.kind === 'watch-rule' ? `watch-rule|${s.subject}` : s.subject;
}

/** The host of a watch glob (HOST/…). */
function hostOf(glob: string): string {
  return glob.split('/')[0]!;
}

function earliest(subjects: ReadonlyArray<{ since: string }>): string | undefined {
  return subjects.map((s) => s.since).sort((a, b) => Date.parse(a) - Date.parse(b))[0];
}

/**
 * Whether a listing is above a subject: a host's catalog above its repositories and their tags, a
 * repository's tag list above its tags (not above a repository nested under its path).
 */
function isUnder(listing: string, subject: string): boolean {
  if (!listing.includes('/')) return subject.startsWith(`${listing}/`);
  return subject.startsWith(`${listing}:`) && !subject.slice(listing.length + 1).includes('/');
}

/** The shard count a listing's scope was kept under: 'all' is 1, 'shard-I-of-N' is N. */
function layoutCount(scope: string): number {
  const m = /^shard-\d+-of-(\d+)$/.exec(scope);
  return m === null ? 1 : Number(m[1]);
}

function later(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined || b === undefined) return a ?? b;
  return Date.parse(a) >= Date.parse(b) ? a : b;
}

/** HOST/REPO read as absent from its host's catalog (deleted, or no longer matched), not failed. */
function listedWithout(listed: Set<string>, failing: Map<string, PassFailure>, repository: string): boolean {
  const slash = repository.indexOf('/');
  return slash > 0 && listed.has(repository.slice(0, slash)) && !failing.has(repository);
}

function staleAlert(
  key: string,
  stale: StaleSubject[],
  hours: number,
  shard: PassScope['shard'],
): AlertInput {
  const tags = stale.filter((s) => s.kind === 'tag').length;
  const rules = stale.filter((s) => s.kind === 'watch-rule').length;
  const listings = stale.length - tags - rules;
  const counted = [
    ...(tags > 0 ? [`${tags} tag${tags === 1 ? '' : 's'}`] : []),
    ...(listings > 0
      ? [`${listings} repositor${listings === 1 ? 'y or registry' : 'ies or registries'}`]
      : []),
    ...(rules > 0 ? [`${rules} watch rule${rules === 1 ? '' : 's'} matching no repository`] : []),
  ].join(' and ');
  const oldest = stale[0]!;
  return {
    kind: 'verification-stale',
    severity: 'HIGH',
    subject:
      shard === undefined || shardLabel(shard) === 'all'
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
