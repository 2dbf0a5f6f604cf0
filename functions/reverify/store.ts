/**
 * The per-tag verdicts (Firestore collection `tags`): the last verdict of each watched tag, what it
 * was computed from (digest, signature fingerprint, policy) so an unchanged tag is not downloaded
 * again, and a bounded history of its changes. Documents carry a schema version.
 */
import crypto from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import { DependencyError } from '../errors.ts';
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

export interface TagStore {
  /** The records of these refs (absent ones left out). */
  load(refs: readonly string[]): Promise<Map<string, TagRecord>>;
  put(record: TagRecord): Promise<void>;
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
          const data = snap.data() as TagRecord | undefined;
          if (data?.schemaVersion === TAG_SCHEMA_VERSION) out.set(data.ref, data);
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

  async put(record: TagRecord): Promise<void> {
    try {
      await this.#db.collection(TAGS_COLLECTION).doc(tagDocumentId(record.ref)).set(plain(record));
    } catch (err) {
      throw new DependencyError(
        'firestore',
        `writing the verdict of ${record.ref} failed: ${(err as Error).message}`,
        {
          tag: record.ref,
        },
        err,
      );
    }
  }
}

/** The same store in memory: the CLI without a project, and tests of the pass logic. */
export class MemoryTagStore implements TagStore {
  /** Each record as the JSON Firestore would keep (undefined values dropped): one copy out, one in. */
  readonly #json = new Map<string, string>();

  /** The stored records (copies). */
  get records(): ReadonlyMap<string, TagRecord> {
    const out = new Map<string, TagRecord>();
    for (const [ref, json] of this.#json) out.set(ref, JSON.parse(json) as TagRecord);
    return out;
  }

  async load(refs: readonly string[]): Promise<Map<string, TagRecord>> {
    const out = new Map<string, TagRecord>();
    for (const ref of refs) {
      const json = this.#json.get(ref);
      if (json !== undefined) out.set(ref, JSON.parse(json) as TagRecord);
    }
    return out;
  }

  async put(record: TagRecord): Promise<void> {
    this.#json.set(record.ref, JSON.stringify(record));
  }
}
