/**
 * The per-tag verdicts (Firestore collection `tags`): the last verdict of each watched tag, what it
 * was computed from (digest, signature fingerprint, policy) so an unchanged tag is not downloaded
 * again, and a bounded history of its changes. Documents carry a schema version.
 */
import crypto from 'node:crypto';
import { type DocumentSnapshot, FieldValue, type Firestore, type Timestamp } from '@google-cloud/firestore';
import { DependencyError } from '../errors.ts';
import { ALREADY_EXISTS, codeOf, FAILED_PRECONDITION, NOT_FOUND } from '../state/firestore-codes.ts';
import type { SignatureFingerprint } from '../verify/sources.ts';
import type { SignatureFinding, SignatureLayout, VerdictStatus } from '../verify/verdict.ts';

export const TAGS_COLLECTION = 'tags';
export const TAG_SCHEMA_VERSION = 1;
/** Changes kept on the document; older ones are dropped (the alerts keep the incidents). */
export const HISTORY_LIMIT = 50;

export interface TagHistoryEntry {
  at: string;
  status: VerdictStatus;
  digest: string;
  reason: string;
}

export interface TagRecord {
  schemaVersion: number;
  /** HOST/REPO:TAG */
  ref: string;
  source: 'owned' | 'watchlist';
  /** policyId() of the policy the verdict was computed under, and a hash of the verifier trust (core.ts). */
  policy: string;
  digest: string;
  status: VerdictStatus;
  reasons: string[];
  findings: SignatureFinding[];
  fingerprint: SignatureFingerprint;
  /** Layouts a good signature of this digest was seen in: one that disappears is `missing`. */
  verifiedLayouts: SignatureLayout[];
  checkedAt: string;
  changedAt: string;
  history: TagHistoryEntry[];
  /** Present while the alerts of this verdict's change are being delivered (see TagStore). */
  delivery?: TagDelivery;
}

/**
 * A delivery of alerts in progress, claimed by the write of the verdict it is for. Until `until`
 * no other pass writes the tag: alerts go out one pass at a time, in the order of the verdicts.
 * A delivery still recorded after `until` may not have finished, and the next pass delivers again.
 */
export interface TagDelivery {
  /** Names this delivery, so only its own pass clears it. */
  id: string;
  /** ISO time the claim lapses. */
  until: string;
  /** The verdict the change was from (none for a tag's first), to deliver the change again. */
  previous: { status: VerdictStatus; digest: string } | null;
}

/** What a conditional store did: wrote the verdict, or left the tag to a newer one. */
export type PutOutcome = 'stored' | 'superseded';

/**
 * Passes can overlap (a retried schedule, a manual run, two shardings). A pass that resolved a tag
 * before another moved it must not store its older verdict over the newer one, nor let its alerts
 * land after the newer one's. So a verdict is stored only over the record it was judged against,
 * and a verdict whose change has alerts is stored with a `delivery` claim first, its alerts
 * delivered after, and the claim cleared last.
 */
export interface TagStore {
  /** The records of these refs (absent ones left out). */
  load(refs: readonly string[]): Promise<Map<string, TagRecord>>;
  /**
   * Stores `record` if the tag's stored record is still `basis` (one `load` returned, or undefined
   * for none); 'superseded', storing nothing, when another pass stored one since.
   */
  put(record: TagRecord, basis: TagRecord | undefined): Promise<PutOutcome>;
  /** Clears `record.delivery` if the stored record still carries that claim. */
  finishDelivery(record: TagRecord): Promise<void>;
}

export function tagDocumentId(ref: string): string {
  return crypto.createHash('sha256').update(ref).digest('hex');
}

/** Firestore refuses undefined values; verdicts may carry optional fields. */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export class FirestoreTagStore implements TagStore {
  readonly #db: Firestore;
  /** The update time of each record `load` returned: the condition its verdict is stored on. */
  readonly #versions = new WeakMap<TagRecord, Timestamp>();

  constructor(db: Firestore) {
    this.#db = db;
  }

  async load(refs: readonly string[]): Promise<Map<string, TagRecord>> {
    const out = new Map<string, TagRecord>();
    const collection = this.#db.collection(TAGS_COLLECTION);
    try {
      for (let i = 0; i < refs.length; i += 300) {
        const docs = refs.slice(i, i + 300).map((ref) => collection.doc(tagDocumentId(ref)));
        if (docs.length === 0) continue;
        for (const snap of await this.#db.getAll(...docs)) {
          const data = currentRecord(snap);
          if (data === undefined) continue;
          out.set(data.ref, data);
          this.#versions.set(data, snap.updateTime!);
        }
      }
    } catch (err) {
      throw new DependencyError(
        'firestore',
        `reading tag verdicts failed: ${(err as Error).message}`,
        {},
        err,
      );
    }
    return out;
  }

  async put(record: TagRecord, basis: TagRecord | undefined): Promise<PutOutcome> {
    const version = basisVersion(this.#versions, record, basis);
    const doc = this.#doc(record.ref);
    const data = plain(record);
    try {
      if (version !== undefined) {
        // Every field is written, and a claim the record does not carry is removed.
        await doc.update(
          { ...data, delivery: data.delivery ?? FieldValue.delete() },
          { lastUpdateTime: version },
        );
        return 'stored';
      }
      // No record before: created, unless one appeared meanwhile. One of another schema is replaced,
      // read in a transaction so that none of this schema can appear meanwhile.
      try {
        await doc.create(data);
        return 'stored';
      } catch (err) {
        if (codeOf(err) !== ALREADY_EXISTS) throw err;
      }
      return await this.#db.runTransaction(async (tx): Promise<PutOutcome> => {
        if (currentRecord(await tx.get(doc)) !== undefined) return 'superseded';
        tx.set(doc, data);
        return 'stored';
      });
    } catch (err) {
      // Changed since it was read, or deleted (by an operator): either way, judge the tag again.
      if (codeOf(err) === FAILED_PRECONDITION || codeOf(err) === NOT_FOUND) return 'superseded';
      throw new DependencyError(
        'firestore',
        `writing the verdict of ${record.ref} failed: ${(err as Error).message}`,
        { tag: record.ref },
        err,
      );
    }
  }

  async finishDelivery(record: TagRecord): Promise<void> {
    const doc = this.#doc(record.ref);
    try {
      await this.#db.runTransaction(async (tx) => {
        const stored = currentRecord(await tx.get(doc));
        if (record.delivery !== undefined && stored?.delivery?.id === record.delivery.id)
          tx.update(doc, { delivery: FieldValue.delete() });
      });
    } catch (err) {
      throw new DependencyError(
        'firestore',
        `recording the alerts of ${record.ref} delivered failed: ${(err as Error).message}`,
        { tag: record.ref },
        err,
      );
    }
  }

  #doc(ref: string) {
    return this.#db.collection(TAGS_COLLECTION).doc(tagDocumentId(ref));
  }
}

/** The version `load` saw of `basis`; none for no basis, and an error for a record it never loaded. */
function basisVersion<V>(versions: WeakMap<TagRecord, V>, record: TagRecord, basis: TagRecord | undefined) {
  if (basis === undefined) return undefined;
  const version = versions.get(basis);
  if (version === undefined) {
    throw new Error(`the verdict of ${record.ref} was judged against a record this store did not load`);
  }
  return version;
}

/** The record a snapshot holds, if it holds one of this schema (an older one counts as none). */
function currentRecord(snap: DocumentSnapshot): TagRecord | undefined {
  const data = snap.data() as TagRecord | undefined;
  return data?.schemaVersion === TAG_SCHEMA_VERSION ? data : undefined;
}

/** The same store in memory: the CLI without a project, and tests of the pass logic. */
export class MemoryTagStore implements TagStore {
  /** Each record as the JSON Firestore would keep (undefined values dropped), and its write count. */
  readonly #stored = new Map<string, { json: string; version: number }>();
  readonly #versions = new WeakMap<TagRecord, number>();

  /** The stored records (copies). */
  get records(): ReadonlyMap<string, TagRecord> {
    const out = new Map<string, TagRecord>();
    for (const [ref, { json }] of this.#stored) out.set(ref, JSON.parse(json) as TagRecord);
    return out;
  }

  async load(refs: readonly string[]): Promise<Map<string, TagRecord>> {
    const out = new Map<string, TagRecord>();
    for (const ref of refs) {
      const stored = this.#stored.get(ref);
      if (stored === undefined) continue;
      const record = JSON.parse(stored.json) as TagRecord;
      out.set(ref, record);
      this.#versions.set(record, stored.version);
    }
    return out;
  }

  async put(record: TagRecord, basis: TagRecord | undefined): Promise<PutOutcome> {
    const version = basisVersion(this.#versions, record, basis);
    const stored = this.#stored.get(record.ref);
    if (stored?.version !== version) return 'superseded';
    this.#stored.set(record.ref, { json: JSON.stringify(record), version: (version ?? 0) + 1 });
    return 'stored';
  }

  async finishDelivery(record: TagRecord): Promise<void> {
    const stored = this.#stored.get(record.ref);
    if (stored === undefined || record.delivery === undefined) return;
    const { delivery, ...rest } = JSON.parse(stored.json) as TagRecord;
    if (delivery?.id !== record.delivery.id) return;
    this.#stored.set(record.ref, { json: JSON.stringify(rest), version: stored.version + 1 });
  }
}
