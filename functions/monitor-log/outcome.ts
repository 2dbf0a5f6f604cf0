/**
 * How one log's part of a monitor run ended. Apart from core.ts so that the entry point can judge a
 * run's result without loading the scan and its clients.
 */
export type LogOutcome =
  | 'scanned'
  | 'partial'
  | 'log-inconsistent'
  | 'checkpoint-invalid'
  | 'busy'
  | 'fanned-out'
  | 'failed';

/** The outcomes of a log checked as far as it could be: a run whose logs all end so is `ok`. */
export const COMPLETED_OUTCOMES: ReadonlySet<LogOutcome> = new Set(['scanned', 'busy', 'fanned-out']);
