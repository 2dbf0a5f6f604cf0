/**
 * Ways the log can misbehave, switched on by tests at run time (or over `POST /__faults`) so the
 * client's defences are exercised against a real server rather than a mock. They apply to both
 * logs; on v2, where clients compute proofs from tiles, a wrong proof is a wrong tile.
 */
export interface Faults {
  /** Serve checkpoints for a forked history: same size, another root, signed with the real key. */
  splitView?: boolean;
  /** Serve this entry with a rewritten body (its proofs unchanged; on v2, in its entry bundle). */
  rewriteEntry?: number;
  /** Serve this v1 entry with an integratedTime a day earlier than the one its timestamp signs. */
  backdateEntry?: number;
  /** Sign checkpoints with a key the client does not trust. */
  wrongCheckpointKey?: boolean;
  /** Serve checkpoints (and proofs) for a tree this many entries smaller than the real one. */
  shrinkBy?: number;
  /** Corrupt one node of every inclusion proof (v2: in CreateEntry answers, and a hash of every level-0 tile). */
  wrongInclusionProof?: boolean;
  /** Corrupt one node of every consistency proof (v2: a hash of every tile above level 0). */
  wrongConsistencyProof?: boolean;
  /** Answer this HTTP status (5xx, or 429 with Retry-After: 1) to every API request... */
  errorStatus?: number;
  /** ...for this many requests only (unlimited when absent). */
  errorCount?: number;
  /** Delay every API answer by this many milliseconds. */
  delayMs?: number;
}

export interface FaultController {
  readonly current: Readonly<Faults>;
  set(faults: Faults): void;
  clear(): void;
}

const KNOWN: ReadonlyArray<keyof Faults> = [
  'splitView',
  'rewriteEntry',
  'backdateEntry',
  'wrongCheckpointKey',
  'shrinkBy',
  'wrongInclusionProof',
  'wrongConsistencyProof',
  'errorStatus',
  'errorCount',
  'delayMs',
];

export function createFaultController(): FaultController {
  let current: Faults = {};
  return {
    get current() {
      return current;
    },
    set(faults: Faults) {
      for (const k of Object.keys(faults)) {
        if (!KNOWN.includes(k as keyof Faults)) throw new Error(`unknown fault ${k}`);
      }
      current = { ...current, ...faults };
    },
    clear() {
      current = {};
    },
  };
}

/** Consumes one injected error if one is due; returns its status. */
export function takeError(faults: FaultController): number | undefined {
  const { errorStatus, errorCount } = faults.current;
  if (errorStatus === undefined) return undefined;
  if (errorCount !== undefined) {
    if (errorCount <= 0) return undefined;
    faults.set({ errorCount: errorCount - 1 });
  }
  return errorStatus;
}
