/**
 * The status page's data: reads sigsentry's state from Firestore (`tags` from reverifyImages,
 * `signatures` from signOnPush, `alerts`, `monitor` and `monitorRuns/no-log` from monitorLog) and
 * shapes it into the view model. Reading is separate from shaping so the shaping is tested without
 * a database.
 */
import type { Firestore } from '@google-cloud/firestore';
import { type Alert, severityRank } from '../alerts/alert.ts';
import { ALERTS_COLLECTION, FirestoreAlertStore } from '../alerts/firestore-sink.ts';
import { SignatureFormatSchema } from '../config/sign-config.ts';
import { DependencyError } from '../errors.ts';
import {
  MONITOR_COLLECTION,
  MONITOR_RUNS_COLLECTION,
  type MonitorState,
  NO_LOG_RUN_DOCUMENT,
  type NoLogRun,
} from '../monitor-log/state.ts';
import { TAG_SCHEMA_VERSION, TAGS_COLLECTION, type TagRecord } from '../reverify/store.ts';
import {
  type AttachedBits,
  effectiveState,
  failingFormats,
  SIGNING_RECORDS,
  SCHEMA_VERSION as SIGNING_SCHEMA_VERSION,
  type SigningRecord,
  type SigningState,
} from '../state/signing-records.ts';
import type { VerdictStatus } from '../verify/verdict.ts';
import type {
  DashboardView,
  LogEntryRef,
  MonitorSummary,
  NoLogRunSummary,
  RepositoryCoverage,
  SigningSummary,
  TagCoverage,
  TagCoverageStatus,
} from './view.ts';

/** The fields of a tag verdict the coverage needs (the query reads only these). */
export type VerdictRow = Pick<TagRecord, 'ref' | 'source' | 'digest' | 'status' | 'reasons' | 'checkedAt'>;
/**
 * The fields of a signing record the coverage needs: whether each format is attached too, so a
 * record written `failed` while attached in a format (before `failed` meant "attached in none")
 * reads as attached.
 */
export type SigningRow = Pick<SigningRecord, 'image' | 'digest' | 'state' | 'tags' | 'updatedAt'> &
  AttachedBits;

export interface DashboardLimits {
  /** Documents read per collection for the coverage; more are reported as truncated. */
  maxDocuments: number;
  recentSignings: number;
  openAlerts: number;
  /** Problem tags listed per repository. */
  problemsPerRepository: number;
}

export const DEFAULT_LIMITS: DashboardLimits = {
  maxDocuments: 10_000,
  recentSignings: 25,
  openAlerts: 200,
  problemsPerRepository: 20,
};

/** HOST/REPO of `HOST/REPO:TAG` or `HOST/REPO@sha256:…` (HOST may carry a port). */
export function repositoryOf(ref: string): string {
  const at = ref.indexOf('@');
  if (at >= 0) return ref.slice(0, at);
  const colon = ref.lastIndexOf(':');
  return colon > ref.lastIndexOf('/') ? ref.slice(0, colon) : ref;
}

const VERDICT_COVERAGE: Record<VerdictStatus, TagCoverageStatus> = {
  valid: 'signed',
  unsigned: 'unsigned',
  invalid: 'failing',
  missing: 'failing',
  'key-disabled': 'failing',
};

const SIGNING_COVERAGE: Record<SigningState, TagCoverageStatus> = {
  attached: 'signed',
  claimed: 'signing',
  failed: 'failing',
};

/** When one digest has several records (one per key), the best state stands for it. */
const SIGNING_RANK: Record<SigningState, number> = { attached: 2, claimed: 1, failed: 0 };
const PROBLEM_RANK: Record<TagCoverageStatus, number> = { failing: 0, unsigned: 1, signing: 2, signed: 3 };

const iso = (ms: number) => new Date(ms).toISOString();

/** The current state of each tag signOnPush has seen: the newest digest pushed to it. */
function tagsFromSigningRecords(records: readonly SigningRow[]): Map<string, SigningRow> {
  const byTag = new Map<string, SigningRow>();
  for (const record of records) {
    for (const tag of record.tags ?? []) {
      const seen = byTag.get(tag);
      const state = effectiveState(record);
      if (!seen || (seen.digest !== record.digest && record.updatedAt > seen.updatedAt)) {
        byTag.set(tag, { ...record, state });
      } else if (seen.digest === record.digest) {
        byTag.set(tag, {
          ...seen,
          state: SIGNING_RANK[state] > SIGNING_RANK[seen.state] ? state : seen.state,
          updatedAt: Math.max(seen.updatedAt, record.updatedAt),
        });
      }
    }
  }
  return byTag;
}

/**
 * Coverage per repository. A tag's status is reverifyImages' last verdict, unless signOnPush has
 * since signed another digest under it (the verdict predates the push); tags no pass has verified
 * yet take the state of their signing record.
 */
export function coverageFrom(
  verdicts: readonly VerdictRow[],
  records: readonly SigningRow[],
  problemsPerRepository = DEFAULT_LIMITS.problemsPerRepository,
): RepositoryCoverage[] {
  const signed = tagsFromSigningRecords(records);
  const tags: Array<TagCoverage & { owner: 'owned' | 'watchlist' }> = [];
  for (const v of verdicts) {
    const pushed = signed.get(v.ref);
    signed.delete(v.ref);
    if (pushed && pushed.digest !== v.digest && pushed.updatedAt > Date.parse(v.checkedAt)) {
      tags.push({ ...fromSigning(v.ref, pushed), owner: v.source });
      continue;
    }
    tags.push({
      ref: v.ref,
      digest: v.digest,
      status: VERDICT_COVERAGE[v.status] ?? 'failing',
      source: 'verdict',
      detail: v.status,
      reasons: v.reasons ?? [],
      at: v.checkedAt,
      owner: v.source,
    });
  }
  for (const [ref, record] of signed) tags.push({ ...fromSigning(ref, record), owner: 'owned' });

  const repos = new Map<string, RepositoryCoverage>();
  const repo = (name: string, source: 'owned' | 'watchlist') => {
    let r = repos.get(name);
    if (!r) {
      r = {
        repository: name,
        source,
        signed: 0,
        unsigned: 0,
        failing: 0,
        signing: 0,
        signedDigests: 0,
        problems: [],
      };
      repos.set(name, r);
    }
    return r;
  };
  for (const { owner, ...tag } of tags) {
    const r = repo(repositoryOf(tag.ref), owner);
    r[tag.status] += 1;
    if (tag.status !== 'signed') r.problems.push(tag);
    if (tag.source === 'verdict' && (!r.lastVerifiedAt || tag.at > r.lastVerifiedAt))
      r.lastVerifiedAt = tag.at;
  }
  const signedDigests = new Map<string, Set<string>>();
  for (const record of records) {
    if (effectiveState(record) !== 'attached') continue;
    const name = repositoryOf(record.image);
    repo(name, 'owned');
    const set = signedDigests.get(name) ?? new Set<string>();
    set.add(record.digest);
    signedDigests.set(name, set);
  }
  for (const [name, set] of signedDigests) repos.get(name)!.signedDigests = set.size;

  const out = [...repos.values()];
  for (const r of out) {
    r.problems.sort((a, b) => PROBLEM_RANK[a.status] - PROBLEM_RANK[b.status] || a.ref.localeCompare(b.ref));
    r.problems = r.problems.slice(0, problemsPerRepository);
  }
  // Repositories with something wrong first: that is what the reader is looking for.
  const troubled = (r: RepositoryCoverage) => (r.failing + r.unsigned > 0 ? 0 : 1);
  return out.sort((a, b) => troubled(a) - troubled(b) || a.repository.localeCompare(b.repository));
}

function fromSigning(ref: string, record: SigningRow): TagCoverage {
  const state = effectiveState(record);
  return {
    ref,
    digest: record.digest,
    status: SIGNING_COVERAGE[state] ?? 'failing',
    source: 'signing-record',
    detail: state,
    reasons: [],
    at: iso(record.updatedAt),
  };
}

/** The log entry a stored Sigstore bundle (JSON) names, if it has one. */
export function logEntryOf(format: string, bundle: unknown): LogEntryRef {
  const entry = (bundle as { verificationMaterial?: { tlogEntries?: unknown[] } } | undefined)
    ?.verificationMaterial?.tlogEntries?.[0] as
    | { logIndex?: unknown; integratedTime?: unknown; kindVersion?: { kind?: unknown } }
    | undefined;
  const out: LogEntryRef = { format };
  if (!entry) return out;
  // protobuf JSON writes int64 as a string, and leaves a zero out: the log's first entry has none.
  const index = entry.logIndex === undefined ? 0 : Number(entry.logIndex);
  if (Number.isSafeInteger(index) && index >= 0) out.logIndex = index;
  const time = Number(entry.integratedTime);
  if (entry.integratedTime !== undefined && Number.isFinite(time) && time > 0) {
    out.integratedTime = iso(time * 1000);
  }
  if (typeof entry.kindVersion?.kind === 'string') out.kind = entry.kindVersion.kind;
  return out;
}

export function signingSummary(record: SigningRecord): SigningSummary {
  const error = record.lastError;
  const failed = failingFormats(record);
  // Formats an attached record is being signed in (added to the rule since), not yet given up on.
  const adding =
    effectiveState(record) === 'attached'
      ? (record.adding ?? []).filter((f) => !failed.includes(f) && record.formats?.[f]?.attached !== true)
      : [];
  return {
    image: record.image,
    repository: repositoryOf(record.image),
    digest: record.digest,
    tags: record.tags ?? [],
    state: effectiveState(record),
    ...(failed.length > 0 ? { failedFormats: failed } : {}),
    ...(adding.length > 0 ? { addingFormats: adding } : {}),
    keyVersion: record.keyVersion,
    attempts: record.attempts,
    entries: Object.entries(record.formats ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([format, progress]) => logEntryOf(format, progress.bundle)),
    updatedAt: iso(record.updatedAt),
    ...(error
      ? { lastError: typeof error.message === 'string' ? error.message : JSON.stringify(error) }
      : {}),
  };
}

export function monitorSummary(state: MonitorState): MonitorSummary {
  return {
    log: state.log,
    url: state.url,
    origin: state.origin,
    cursor: state.cursor,
    treeSize: state.treeSize,
    checkpoint: state.checkpoint,
    updatedAt: state.updatedAt,
  };
}

/**
 * The record of the monitor's latest run without a log, if there is one of this schema. It is the
 * latest word unless a log state was updated after it (a log configured since), and it never
 * stands in for a log state: `monitors` shows those whatever it says.
 */
export function noLogRunSummary(
  record: Partial<NoLogRun> | undefined,
  monitors: readonly MonitorSummary[],
): NoLogRunSummary | undefined {
  if (record?.schemaVersion !== 1 || typeof record.lastRunAt !== 'string') return undefined;
  const at = Date.parse(record.lastRunAt);
  if (Number.isNaN(at)) return undefined;
  return {
    lastRunAt: record.lastRunAt,
    note: typeof record.note === 'string' ? record.note : '',
    latest: monitors.every((m) => !(Date.parse(m.updatedAt) > at)),
  };
}

async function read<T>(what: string, query: () => Promise<T>): Promise<T> {
  try {
    return await query();
  } catch (err) {
    throw new DependencyError('firestore', `reading ${what} failed: ${(err as Error).message}`, {}, err);
  }
}

export interface LoadOptions {
  project: string;
  /** HOST/REPO: coverage and recent signings of this repository only (alerts and the monitor stay whole). */
  repository?: string;
  limits?: Partial<DashboardLimits>;
  now?: () => Date;
}

/** Reads everything the page shows. A collection that cannot be read fails the whole page: an
 * empty section must mean "nothing there", never "could not look". */
export async function loadDashboard(db: Firestore, opts: LoadOptions): Promise<DashboardView> {
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const truncated: string[] = [];
  const [verdictSnap, signingSnap, recentSnap, openAlerts, monitorSnap, noLogSnap] = await Promise.all([
    read(TAGS_COLLECTION, () =>
      db
        .collection(TAGS_COLLECTION)
        .select('schemaVersion', 'ref', 'source', 'digest', 'status', 'reasons', 'checkedAt')
        .limit(limits.maxDocuments + 1)
        .get(),
    ),
    read(SIGNING_RECORDS, () =>
      db
        .collection(SIGNING_RECORDS)
        .select(
          'schemaVersion',
          'image',
          'digest',
          'state',
          'tags',
          'updatedAt',
          ...SignatureFormatSchema.options.map((format) => `formats.${format}.attached`),
        )
        .limit(limits.maxDocuments + 1)
        .get(),
    ),
    read(`recent ${SIGNING_RECORDS}`, () =>
      opts.repository === undefined
        ? db.collection(SIGNING_RECORDS).orderBy('updatedAt', 'desc').limit(limits.recentSignings).get()
        : // HOST/REPO@… sorts between "HOST/REPO@" and "HOST/REPOA" ('A' follows '@'): one range on
          // one field, which the automatic index serves; the newest are picked here.
          db
            .collection(SIGNING_RECORDS)
            .where('image', '>=', `${opts.repository}@`)
            .where('image', '<', `${opts.repository}A`)
            .limit(limits.maxDocuments)
            .get(),
    ),
    read('open alerts', () => readOpenAlerts(new FirestoreAlertStore(db), limits.openAlerts)),
    read(MONITOR_COLLECTION, () => db.collection(MONITOR_COLLECTION).limit(100).get()),
    read(`${MONITOR_RUNS_COLLECTION}/${NO_LOG_RUN_DOCUMENT}`, () =>
      db.collection(MONITOR_RUNS_COLLECTION).doc(NO_LOG_RUN_DOCUMENT).get(),
    ),
  ]);

  const verdicts: VerdictRow[] = [];
  for (const doc of verdictSnap.docs.slice(0, limits.maxDocuments)) {
    const data = doc.data() as Partial<TagRecord>;
    if (data.schemaVersion === TAG_SCHEMA_VERSION) verdicts.push(data as VerdictRow);
  }
  if (verdictSnap.size > limits.maxDocuments) truncated.push(TAGS_COLLECTION);

  const signings: SigningRow[] = [];
  for (const doc of signingSnap.docs.slice(0, limits.maxDocuments)) {
    const data = doc.data() as Partial<SigningRecord>;
    if (data.schemaVersion === SIGNING_SCHEMA_VERSION) signings.push(data as SigningRow);
  }
  if (signingSnap.size > limits.maxDocuments) truncated.push(SIGNING_RECORDS);

  const recentSignings = recentSnap.docs
    .map((d) => d.data() as SigningRecord)
    .filter((r) => r.schemaVersion === SIGNING_SCHEMA_VERSION)
    .sort((a, b) => b.updatedAt - a.updatedAt)
    .slice(0, limits.recentSignings)
    .map(signingSummary);
  const coverage = coverageFrom(verdicts, signings, limits.problemsPerRepository);

  const monitors = monitorSnap.docs
    .map((d) => d.data() as MonitorState)
    .filter((s) => s.schemaVersion === 1)
    .map(monitorSummary)
    .sort((a, b) => a.log.localeCompare(b.log));
  const noLogRun = noLogRunSummary(noLogSnap.data() as Partial<NoLogRun> | undefined, monitors);

  return {
    generatedAt: (opts.now ?? (() => new Date()))().toISOString(),
    project: opts.project,
    ...(opts.repository === undefined ? {} : { repository: opts.repository }),
    coverage:
      opts.repository === undefined ? coverage : coverage.filter((r) => r.repository === opts.repository),
    recentSignings,
    openAlerts: openAlerts.shown,
    monitors,
    ...(noLogRun === undefined ? {} : { noLogRun }),
    truncated: openAlerts.more ? [...truncated, ALERTS_COLLECTION] : truncated,
  };
}

/**
 * The open alerts a page shows, most severe first, then most recently seen. Past `limit` the page
 * says it is partial, and the CRITICAL and HIGH ones are read on their own: a flood of newer
 * MEDIUM alerts must not push an older CRITICAL one off the page.
 */
async function readOpenAlerts(
  store: FirestoreAlertStore,
  limit: number,
): Promise<{ shown: Alert[]; more: boolean }> {
  const recent = await store.list({ open: true, limit: limit + 1 });
  const more = recent.length > limit;
  // Each severity on its own: newer HIGH alerts must not push an older CRITICAL one off either.
  const severe = more
    ? [
        ...(await store.list({ open: true, severities: ['CRITICAL'], limit })),
        ...(await store.list({ open: true, severities: ['HIGH'], limit })),
      ]
    : [];
  const byKey = new Map([...severe, ...recent].map((a) => [a.key, a]));
  const shown = [...byKey.values()]
    .sort(
      (a, b) => severityRank(b.severity) - severityRank(a.severity) || b.lastSeen.localeCompare(a.lastSeen),
    )
    .slice(0, limit);
  return { shown, more };
}
