/**
 * The per-tag verdicts (Firestore collection `tags`): the last verdict of each watched tag, what it
 * was computed from (digest, signature fingerprint, policy) so an unchanged tag is not downloaded
 * again, and a bounded history of its changes. Documents carry a schema version.
 */
import crypto from 'node:crypto';
import type { DocumentSnapshot, Firestore, Timestamp } from '@google-cloud/firestore';
import { DependencyError } from '../errors.ts';
import { codeOf, FAILED_PRECONDITION } from '../state/firestore-codes.ts';
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
  /** policyId() of the policy the verdict was computed under. */
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
}

/** What a conditional store did: wrote the verdict, or left the tag to a newer one. */
export type PutOutcome = 'stored' | 'superseded';

/**
 * Passes can overlap (a retried schedule, a manual run, two shardings), and a pass that resolved a
 * tag before another moved it must not store its older verdict over the newer one, nor resolve the
 * newer one's alerts. So verdicts are stored on the condition that the tag's record is still the
 * one the verdict was judged against.
 */
export interface TagStore {
  /** The records of these refs (absent ones left out). */
  load(refs: readonly string[]): Promise<Map<string, TagRecord>>;
  /**
   * Stores `record` if the tag's stored verdict is still `basis` (a record `load` returned, or
   * undefined for none). `beforeStore` (the alert delivery) runs first, with the tag's record held,
   * so no other pass's verdict can come between the two; when it throws, nothing is stored.
   * 'superseded', with nothing run or stored, when another pass stored a verdict since.
   */
  put(
    record: TagRecord,
    basis: TagRecord | undefined,
    beforeStore?: () => Promise<void>,
  ): Promise<PutOutcome>;
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

  async put(
    record: TagRecord,
    basis: TagRecord | undefined,
    beforeStore?: () => Promise<void>,
  ): Promise<PutOutcome> {
    const version = basisVersion(this.#versions, record, basis);
    const doc = this.#db.collection(TAGS_COLLECTION).doc(tagDocumentId(record.ref));
    const data = plain(record);
    let delivery: { error: unknown } | undefined;
    try {
      // Most tags: an unchanged verdict over a known record, one write on its update time.
      if (version !== undefined && beforeStore === undefined) {
        await doc.update({ ...data }, { lastUpdateTime: version });
        return 'stored';
      }
      // A change to deliver, or no record before: read the record in a transaction, which holds it
      // (Firestore locks what a transaction reads) while the alerts go out and the verdict is written.
      return await this.#db.runTransaction(async (tx): Promise<PutOutcome> => {
        const snap = await tx.get(doc);
        const current = currentRecord(snap);
        const unchanged =
          version === undefined
            ? current === undefined
            : current !== undefined && snap.updateTime!.isEqual(version);
        if (!unchanged) return 'superseded';
        try {
          await beforeStore?.();
        } catch (error) {
          delivery = { error };
          throw error;
        }
        tx.set(doc, data);
        return 'stored';
      });
    } catch (err) {
      if (delivery !== undefined) throw delivery.error;
      if (codeOf(err) === FAILED_PRECONDITION) return 'superseded';
      throw new DependencyError(
        'firestore',
        `writing the verdict of ${record.ref} failed: ${(err as Error).message}`,
        { tag: record.ref },
        err,
      );
    }
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
  /** Per tag, the put in progress: a put holds its tag as a Firestore transaction would. */
  readonly #held = new Map<string, Promise<unknown>>();

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

  async put(
    record: TagRecord,
    basis: TagRecord | undefined,
    beforeStore?: () => Promise<void>,
  ): Promise<PutOutcome> {
    const version = basisVersion(this.#versions, record, basis);
    const before = this.#held.get(record.ref);
    const put = (async (): Promise<PutOutcome> => {
      await before?.catch(() => {});
      if (this.#stored.get(record.ref)?.version !== version) return 'superseded';
      await beforeStore?.();
      this.#stored.set(record.ref, { json: JSON.stringify(record), version: (version ?? 0) + 1 });
      return 'stored';
    })();
    this.#held.set(record.ref, put);
    try {
      return await put;
    } finally {
      if (this.#held.get(record.ref) === put) this.#held.delete(record.ref);
    }
  }
}
