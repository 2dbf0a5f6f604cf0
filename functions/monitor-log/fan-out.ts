/**
 * Fan-out: a backlog larger than one run can scan is split into shards, one Pub/Sub message each,
 * scanned by parallel instances (runMonitorShard). Each shard keeps its own cursor in Firestore
 * (`monitorShards`), so a shard cut short resumes where it stopped; the log's cursor advances only
 * over shards that are finished, in order, so no entry is skipped. A shard whose message was lost
 * or whose instance died is published again once its lease has run out.
 */
import type { Firestore } from '@google-cloud/firestore';
import type { Topic } from '@google-cloud/pubsub';
import { z } from 'zod';
import { DependencyError } from '../errors.ts';
import { type FanOutPlan, monitorDocumentId, saveIfVersion } from './state.ts';

export const MONITOR_SHARD_COLLECTION = 'monitorShards';

export interface ShardRecord {
  log: string;
  /** The plan (FanOutPlan.id) the shard belongs to: a later plan never reuses its records. */
  plan: string;
  start: number;
  end: number;
  /** Next index of the shard not yet processed. */
  cursor: number;
  state: 'pending' | 'done';
  /** When its message was last published (ms since the epoch). */
  dispatchedAt: number;
  /**
   * The instance scanning the shard and until when (ms since the epoch): a delivery of the same
   * shard meanwhile (a duplicate, or the same message on another subscription) is acknowledged
   * without scanning, so each entry is matched, and each alert raised, once.
   */
  scanner?: { owner: string; until: number } | null;
  version: number;
  updatedAt: string;
}

export interface MonitorShardStore {
  /** The records of these shards of one plan, undefined where there is none. */
  load(log: string, plan: string, starts: readonly number[]): Promise<Array<ShardRecord | undefined>>;
  /** Version-checked write, as MonitorStateStore.save: false when another writer won. */
  save(next: ShardRecord, expectedVersion: number | undefined): Promise<boolean>;
  remove(log: string, plan: string, starts: readonly number[]): Promise<void>;
}

/** The message that starts (or resumes) one shard. */
export const ShardMessageSchema = z.strictObject({
  log: z.string().min(1).max(500),
  plan: z.string().min(1).max(100),
  start: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
});
export type ShardMessage = z.infer<typeof ShardMessageSchema>;

export interface ShardDispatcher {
  dispatch(messages: readonly ShardMessage[]): Promise<void>;
}

export interface FanOut {
  store: MonitorShardStore;
  dispatcher: ShardDispatcher;
}

/**
 * Shards one plan holds at most. A log that holds its key can publish a consistent checkpoint of
 * any size (2^52 entries); a plan covers at most this many shards of the backlog, and the rest is
 * planned by later runs as the cursor moves over the finished ones. 1000 shards of the default
 * 100,000 entries keep a plan's records one Firestore read and its messages one publish burst.
 */
export const MAX_SHARDS_PER_PLAN = 1000;

/** Entries one plan of `shardSize` shards covers at most. */
export function planSpan(shardSize: number, maxShards: number): number {
  return Math.max(1, shardSize) * Math.max(1, Math.min(maxShards, MAX_SHARDS_PER_PLAN));
}

/**
 * The part of `plan` that is scanned: all of it for a plan made with the bound, the first
 * `maxShards` shards of one saved before the bound existed (possibly 2^52 entries long), which is
 * then finished at that end and the rest planned again. Never more than MAX_SHARDS_PER_PLAN.
 */
export function boundedPlan(plan: FanOutPlan, maxShards: number = MAX_SHARDS_PER_PLAN): FanOutPlan {
  const end = Math.min(plan.end, plan.start + planSpan(plan.shardSize, maxShards));
  return end === plan.end ? plan : { ...plan, end };
}

/** Where each shard of `plan` starts, for its bounded part only (see boundedPlan). */
export function shardStarts(plan: FanOutPlan): number[] {
  const { start, end, shardSize } = boundedPlan(plan);
  const starts: number[] = [];
  for (let s = start; s < end; s += Math.max(1, shardSize)) starts.push(s);
  return starts;
}

/** Whether a shard starting at `start` is one of `plan`'s (a message naming another is stale). */
export function holdsShard(plan: FanOutPlan, start: number): boolean {
  const { end, shardSize } = boundedPlan(plan);
  return start >= plan.start && start < end && (start - plan.start) % Math.max(1, shardSize) === 0;
}

export function shardEnd(plan: FanOutPlan, start: number): number {
  return Math.min(plan.end, start + plan.shardSize);
}

export interface FanOutProgress {
  /** Every index below it is processed: the log's cursor may move here. */
  processedThrough: number;
  complete: boolean;
  /** Shards published in this call (new, or whose lease ran out). */
  dispatched: number;
}

/**
 * Creates the plan's missing shard records, publishes the shards that have none or whose lease
 * ran out, and reports how far the finished shards reach from the plan's start.
 */
export async function driveFanOut(
  fan: FanOut,
  log: string,
  saved: FanOutPlan,
  opts: { now: number; leaseMs: number },
): Promise<FanOutProgress> {
  const plan = boundedPlan(saved);
  const starts = shardStarts(plan);
  const records = await fan.store.load(log, plan.id, starts);
  let processedThrough = plan.start;
  let contiguous = true;
  const dispatch: ShardMessage[] = [];
  for (const [k, start] of starts.entries()) {
    const record = records[k];
    if (contiguous) {
      if (record?.state === 'done') {
        processedThrough = shardEnd(plan, start);
        continue;
      }
      contiguous = false;
      if (record !== undefined) processedThrough = Math.max(processedThrough, record.cursor);
    }
    if (record?.state === 'done') continue;
    if (record === undefined) {
      const created: ShardRecord = {
        log,
        plan: plan.id,
        start,
        end: shardEnd(plan, start),
        cursor: start,
        state: 'pending',
        dispatchedAt: opts.now,
        version: 0,
        updatedAt: new Date(opts.now).toISOString(),
      };
      if (await fan.store.save(created, undefined)) dispatch.push({ log, plan: plan.id, start });
    } else if (
      opts.now - record.dispatchedAt > opts.leaseMs &&
      // A shard an instance is scanning is not stalled: republishing it would bump the record
      // under that scan (its next save fails after its alerts went out) and scan it twice.
      !(record.scanner && record.scanner.until > opts.now)
    ) {
      const renewed = { ...record, dispatchedAt: opts.now, updatedAt: new Date(opts.now).toISOString() };
      if (await fan.store.save(renewed, record.version)) dispatch.push({ log, plan: plan.id, start });
    }
  }
  if (dispatch.length > 0) await fan.dispatcher.dispatch(dispatch);
  return { processedThrough, complete: processedThrough >= plan.end, dispatched: dispatch.length };
}

export class MemoryShardStore implements MonitorShardStore {
  readonly records = new Map<string, ShardRecord>();

  async load(log: string, plan: string, starts: readonly number[]): Promise<Array<ShardRecord | undefined>> {
    return starts.map((s) => {
      const r = this.records.get(`${log}:${plan}:${s}`);
      return r === undefined ? undefined : structuredClone(r);
    });
  }

  async save(next: ShardRecord, expectedVersion: number | undefined): Promise<boolean> {
    const key = `${next.log}:${next.plan}:${next.start}`;
    if (this.records.get(key)?.version !== expectedVersion) return false;
    this.records.set(key, structuredClone({ ...next, version: (expectedVersion ?? 0) + 1 }));
    return true;
  }

  async remove(log: string, plan: string, starts: readonly number[]): Promise<void> {
    for (const s of starts) this.records.delete(`${log}:${plan}:${s}`);
  }
}

export class FirestoreShardStore implements MonitorShardStore {
  private readonly db: Firestore;
  constructor(db: Firestore) {
    this.db = db;
  }

  private ref(log: string, plan: string, start: number) {
    return this.db
      .collection(MONITOR_SHARD_COLLECTION)
      .doc(`${monitorDocumentId(log)}:${monitorDocumentId(plan)}:${start}`);
  }

  async load(log: string, plan: string, starts: readonly number[]): Promise<Array<ShardRecord | undefined>> {
    if (starts.length === 0) return [];
    try {
      const snaps = await this.db.getAll(...starts.map((s) => this.ref(log, plan, s)));
      return snaps.map((snap) => (snap.exists ? (snap.data() as ShardRecord) : undefined));
    } catch (err) {
      throw new DependencyError('firestore', `could not read the monitor shards of ${log}`, {}, err);
    }
  }

  async save(next: ShardRecord, expectedVersion: number | undefined): Promise<boolean> {
    try {
      return await saveIfVersion(this.db, this.ref(next.log, next.plan, next.start), next, expectedVersion);
    } catch (err) {
      throw new DependencyError(
        'firestore',
        `could not write monitor shard ${next.start} of ${next.log}`,
        { logIndex: next.start },
        err,
      );
    }
  }

  async remove(log: string, plan: string, starts: readonly number[]): Promise<void> {
    try {
      const writer = this.db.bulkWriter();
      // Each delete's own promise rejects on a permanent failure: awaited, never left unhandled.
      const deletes = starts.map((s) => writer.delete(this.ref(log, plan, s)));
      await writer.close();
      const failed = (await Promise.allSettled(deletes)).find((r) => r.status === 'rejected');
      if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    } catch (err) {
      throw new DependencyError('firestore', `could not remove the monitor shards of ${log}`, {}, err);
    }
  }
}

/** Publishes shard messages on the monitor's shard topic (JSON, as ShardMessageSchema reads). */
export class PubSubShardDispatcher implements ShardDispatcher {
  private readonly topic: Topic;
  constructor(topic: Topic) {
    this.topic = topic;
  }

  async dispatch(messages: readonly ShardMessage[]): Promise<void> {
    try {
      await Promise.all(messages.map((m) => this.topic.publishMessage({ json: m })));
    } catch (err) {
      throw new DependencyError('pubsub', `could not publish monitor shards to ${this.topic.name}`, {}, err);
    }
  }
}
