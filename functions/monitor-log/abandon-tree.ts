/**
 * An operator's decision to stop waiting for a tree left pending (state.ts PreviousTree.pending):
 * the log never listed it frozen with a head that verifies, so its tail past the cursor cannot be
 * proven, and every run says so in a WARNING. Abandoning it stops that, and records who-knows-why
 * in the state (`abandoned`): the entries from its cursor on are then never scanned, which the
 * HIGH alert that left it pending already says, and which stays open until resolved by hand.
 */
import { InvalidInputError, SigsentryError } from '../errors.ts';
import type { MonitorStateStore, PreviousTree } from './state.ts';

/** What was given up: the tree, from where its entries are left unscanned, and why. */
export interface AbandonedTree {
  log: string;
  origin: string;
  /** Every index below it was scanned; from it on, nothing is. */
  cursor: number;
  /** What the tree holds at least (its listed size, or its last verified checkpoint's). */
  size: number;
  at: string;
  reason: string;
}

/** Attempts at writing the state while runs of the monitor keep writing it first. */
const ATTEMPTS = 3;

/**
 * Abandons the pending tree `origin` of `log`, for `reason` (required: the state keeps it as the
 * record of the decision). Refused (InvalidInputError) when the log has no state, or no pending
 * tree of that origin (naming those it has); a state another run keeps writing is a retryable error.
 */
export async function abandonPendingTree(
  store: MonitorStateStore,
  request: { log: string; origin: string; reason: string },
  now: () => Date = () => new Date(),
): Promise<AbandonedTree> {
  const reason = request.reason.trim();
  if (reason === '') {
    throw new InvalidInputError(
      'abandoning a pending tree needs a reason, kept in the state as the record of it',
      {
        log: request.log,
      },
    );
  }
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const state = await store.load(request.log);
    if (state === undefined) {
      throw new InvalidInputError(`the log ${request.log} has no monitor state: nothing is pending`, {
        log: request.log,
      });
    }
    const tree = state.previousShards.find((s) => s.origin === request.origin && s.pending !== undefined);
    if (tree === undefined) {
      const pending = state.previousShards.filter((s) => s.pending !== undefined).map((s) => s.origin);
      throw new InvalidInputError(
        `the log ${request.log} has no pending tree "${request.origin}"; pending: ${pending.length > 0 ? pending.map((o) => `"${o}"`).join(', ') : 'none'}`,
        { log: request.log, origin: request.origin, pending },
      );
    }
    const at = now().toISOString();
    const abandoned: AbandonedTree = {
      log: request.log,
      origin: tree.origin,
      cursor: tree.cursor,
      size: tree.pending!.size,
      at,
      reason,
    };
    const previousShards = state.previousShards.map((s): PreviousTree => {
      if (s !== tree) return s;
      const { pending: _pending, ...rest } = s;
      return { ...rest, abandoned: { at, reason, size: abandoned.size } };
    });
    const saved = await store.save({ ...state, previousShards, updatedAt: at }, state.version);
    if (saved) return abandoned;
  }
  throw new SigsentryError(
    'STATE_CONTENDED',
    `runs of the monitor kept writing the state of ${request.log}; the tree "${request.origin}" is still pending: try again`,
    { retryable: true, details: { log: request.log, origin: request.origin } },
  );
}
