/**
 * What the status page shows, as data: the data layer builds it from Firestore, the renderer turns
 * it into HTML, and `?format=json` returns it as it is. Times are ISO 8601 strings.
 */
import type { Alert } from '../alerts/alert.ts';
import type { SigningState } from '../state/signing-records.ts';
import type { VerdictStatus } from '../verify/verdict.ts';

/**
 * signed: verified valid (or attached by signOnPush and not yet re-verified); unsigned: no
 * signature from an expected signer; failing: a signature that does not verify, went missing, is
 * by a disabled key, or a signing that gave up; signing: signOnPush is at work on it.
 */
export type TagCoverageStatus = 'signed' | 'unsigned' | 'failing' | 'signing';

export interface TagCoverage {
  /** HOST/REPO:TAG */
  ref: string;
  digest: string;
  status: TagCoverageStatus;
  /** Where the status comes from: reverifyImages' last verdict, or signOnPush's signing record. */
  source: 'verdict' | 'signing-record';
  /** The verdict status or the signing state it was derived from. */
  detail: VerdictStatus | SigningState;
  reasons: string[];
  at: string;
}

export interface RepositoryCoverage {
  /** HOST/REPO */
  repository: string;
  /** owned: a watched repository; watchlist: a third-party image re-verified against its identity. */
  source: 'owned' | 'watchlist';
  signed: number;
  unsigned: number;
  failing: number;
  signing: number;
  /** Digests with an attached signature (tagged or not). */
  signedDigests: number;
  /** The tags that are not signed, worst first (at most a page's worth). */
  problems: TagCoverage[];
  /** The newest re-verification of any of its tags. */
  lastVerifiedAt?: string;
}

export interface LogEntryRef {
  /** bundle (Sigstore bundle referrer) or cosign (`.sig` layout). */
  format: string;
  logIndex?: number;
  kind?: string;
  integratedTime?: string;
}

export interface SigningSummary {
  /** HOST/REPO@sha256:… */
  image: string;
  repository: string;
  digest: string;
  tags: string[];
  /** Attached once attached in any format (see `failedFormats` for what it lacks). */
  state: SigningState;
  /** Formats an attached image was given up on (attempts exhausted, alerted); it stays signed in the others. */
  failedFormats?: string[];
  /** Formats an attached image is being signed in (added to the rule since). */
  addingFormats?: string[];
  keyVersion: string;
  attempts: number;
  entries: LogEntryRef[];
  updatedAt: string;
  lastError?: string;
}

export interface MonitorSummary {
  log: string;
  url: string;
  origin: string;
  /** Next index to scan. */
  cursor: number;
  /** Size of the last verified checkpoint. */
  treeSize: number;
  /** The last verified checkpoint (signed note). */
  checkpoint: string;
  updatedAt: string;
}

/**
 * The monitor's record of its latest run without a transparency log (REKOR_URL=none): the
 * deployment watches no log, which is not the same as a monitor that never ran.
 */
export interface NoLogRunSummary {
  /** When a monitor run last found no log configured. */
  lastRunAt: string;
  /** What that run said. */
  note: string;
  /**
   * No log state was updated after it: the monitor's latest run watched no log. False once a log
   * is configured and watched (its state, in `monitors`, is newer).
   */
  latest: boolean;
}

export interface DashboardView {
  generatedAt: string;
  project: string;
  /** Set when the page shows one repository (`?repository=HOST/REPO`). */
  repository?: string;
  coverage: RepositoryCoverage[];
  recentSignings: SigningSummary[];
  openAlerts: Alert[];
  monitors: MonitorSummary[];
  /** Set when the monitor has run without a log (see NoLogRunSummary.latest for whether it still does). */
  noLogRun?: NoLogRunSummary;
  /** Collections that held more documents than one page reads: their counts are partial. */
  truncated: string[];
}

/**
 * The record of a run without a log, when it is the monitor's latest word (no log state is newer):
 * the page and `sigsentry status` then say that no transparency log is watched.
 */
export function watchingNoLog(view: Pick<DashboardView, 'noLogRun'>): NoLogRunSummary | undefined {
  return view.noLogRun?.latest ? view.noLogRun : undefined;
}
