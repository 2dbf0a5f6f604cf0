/**
 * Re-checking the log inclusion of signatures already verified, without downloading them again: the
 * entry at each recorded log index is fetched (batched, ten per request as Rekor allows), its signed
 * entry timestamp and its inclusion proof against the log's current signed checkpoint are verified
 * (RekorV1Client.verifyEntry), and its body must still hash to what was verified before.
 */
import crypto from 'node:crypto';
import { DependencyError } from '../errors.ts';
import type { RekorV1Client } from '../tlog/client/rekor-v1.ts';
import type { LogEntry, RekorV1Entry } from '../tlog/client/types.ts';
import type { LogEvidence } from '../verify/verdict.ts';

export interface InclusionResult {
  ok: boolean;
  reason?: string;
  /** Size of the signed tree the entry was proven in. */
  treeSize?: number;
}

const BATCH = 10;

/** An entry whose signed entry timestamp and inclusion proof verified. */
interface CheckedEntry {
  /** Hex SHA-256 of its body. */
  bodyHash: string;
  treeSize: number;
}

export class InclusionRechecker {
  readonly logId: string;
  readonly #client: RekorV1Client;
  readonly #baseUrl: string;
  readonly #fetch: typeof fetch;
  /** What was learnt of each entry (not the entry: its body and proof are not kept for the pass). */
  readonly #results = new Map<number, Promise<CheckedEntry | Error>>();
  #pending: Array<{ index: number; settle: (v: CheckedEntry | Error) => void }> = [];
  #scheduled = false;

  constructor(options: { client: RekorV1Client; baseUrl: string; fetch?: typeof fetch }) {
    this.#client = options.client;
    this.logId = options.client.logId.toString('hex');
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#fetch = options.fetch ?? fetch;
  }

  /** Re-checks one recorded entry; entries of other logs are not this checker's to judge. */
  async recheck(evidence: LogEvidence): Promise<InclusionResult | undefined> {
    if (evidence.logId !== this.logId) return undefined;
    const entry = await this.#entry(evidence.logIndex);
    if (entry instanceof DependencyError) throw entry;
    if (entry instanceof Error) return { ok: false, reason: entry.message };
    if (entry.bodyHash !== evidence.bodyHash) {
      return { ok: false, reason: `log entry ${evidence.logIndex} is no longer the entry that was verified` };
    }
    return { ok: true, treeSize: entry.treeSize };
  }

  #entry(index: number): Promise<CheckedEntry | Error> {
    let result = this.#results.get(index);
    if (result === undefined) {
      result = new Promise((settle) => this.#pending.push({ index, settle }));
      this.#results.set(index, result);
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    }
    return result;
  }

  #flush(): void {
    this.#scheduled = false;
    const pending = this.#pending;
    this.#pending = [];
    for (let i = 0; i < pending.length; i += BATCH) void this.#fetchBatch(pending.slice(i, i + BATCH));
  }

  async #fetchBatch(
    batch: Array<{ index: number; settle: (v: CheckedEntry | Error) => void }>,
  ): Promise<void> {
    let entries: LogEntry[];
    try {
      const res = await this.#fetch(`${this.#baseUrl}/api/v1/log/entries/retrieve`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ logIndexes: batch.map((b) => b.index) }),
        signal: AbortSignal.timeout(15_000),
      });
      if (!res.ok) throw new Error(`log answered ${res.status}`);
      const list = (await res.json()) as Array<Record<string, RekorV1Entry>>;
      entries = list.flatMap((m) => Object.entries(m).map(([uuid, e]) => ({ ...e, uuid })));
    } catch (err) {
      const failure = new DependencyError(
        'rekor',
        `re-reading log entries failed: ${(err as Error).message}`,
        {
          logIndexes: batch.map((b) => b.index),
        },
      );
      for (const b of batch) {
        this.#results.delete(b.index);
        b.settle(failure);
      }
      return;
    }
    for (const b of batch) {
      const entry = entries.find((e) => e.logIndex === b.index);
      if (entry === undefined) {
        b.settle(new Error(`log entry ${b.index} is not in the log`));
        continue;
      }
      try {
        this.#client.verifyEntry(entry, b.index);
        b.settle({
          bodyHash: crypto.createHash('sha256').update(Buffer.from(entry.body, 'base64')).digest('hex'),
          treeSize: entry.verification?.inclusionProof?.treeSize ?? 0,
        });
      } catch (err) {
        b.settle(err as Error);
      }
    }
  }
}
