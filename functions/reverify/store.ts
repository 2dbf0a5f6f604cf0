/**
 * The per-tag verdicts (Firestore collection `tags`): the last verdict of each watched tag, what it
 * was computed from (digest, signature fingerprint, policy) so an unchanged tag is not downloaded
 * again, and a bounded history of its changes. Documents carry a schema version.
 */
import crypto from 'node:crypto';
import {
  type DocumentData,
  type DocumentSnapshot,
  FieldValue,
  type Firestore,
  type Timestamp,
  type UpdateData,
} from '@google-cloud/firestore';
import type { AlertInput } from '../alerts/alert.ts';
import { DependencyError } from '../errors.ts';
import { ALREADY_EXISTS, codeOf, FAILED_PRECONDITION, NOT_FOUND } from '../state/firestore-codes.ts';
import type { SignatureFingerprint } from '../verify/sources.ts';
import type { FindingsOmitted, SignatureFinding, SignatureLayout, VerdictStatus } from '../verify/verdict.ts';
import { distinctRaises } from './alerts.ts';

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
  /**
   * policyId() of the policy the verdict was computed under, a hash of the verifier trust (core.ts),
   * and the version of the verifier's rules that judged it (verifier-version.ts; none before it was).
   */
  policy: string;
  digest: string;
  status: VerdictStatus;
  reasons: string[];
  /**
   * The verdict's findings as it lists them (verify/verdict.ts listedFindings): a bounded number of
   * each kind, copies of a verified signature counted on it (`copies`), the rest counted below.
   */
  findings: SignatureFinding[];
  /**
   * Foreign findings of the verdict not listed in `findings`, and those that claim an expected signer
   * by outcome (absent in older records: none). The listed ones decide the status all of them gave,
   * so a pass judging the tag again from this record reaches the same status, its reasons the same counts.
   */
  foreignOmitted?: number;
  oursOmitted?: FindingsOmitted['oursOmitted'];
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
 * The pass renews the claim before each alert it raises or resolves, and stops once it no longer
 * holds it. A delivery still recorded after `until` may not have finished, and the next pass
 * delivers again. One re-opened by a pass that lost its claim (`reopenedDelivery`) has lapsed.
 */
export interface TagDelivery {
  /** Names this delivery, so only its own pass clears it. */
  id: string;
  /** ISO time the claim lapses. */
  until: string;
  /** The verdict the change was from (none for a tag's first), to deliver the change again. */
  previous: { status: VerdictStatus; digest: string } | null;
  /**
   * Raises of an earlier change this one replaced before they went out, of kinds only an operator
   * resolves (reverify/alerts.ts overtakenRaises): told first by whichever pass delivers this change.
   */
  overtaken?: AlertInput[];
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
   * The refs of the recorded tags of one repository (HOST/REPO), at most `limit`: what a pass
   * re-checks by name when the repository's tag list cannot be read.
   */
  recordedTags(repository: string, limit: number): Promise<string[]>;
  /**
   * The refs of the recorded tags of every repository on one host (HOST), at most `limit`: what a
   * pass re-checks by name when the host's catalog cannot be read.
   */
  recordedTagsOfHost(host: string, limit: number): Promise<string[]>;
  /**
   * Stores `record` if the tag's stored record is still `basis` (one `load` returned, or undefined
   * for none); 'superseded', storing nothing, when another pass stored one since.
   */
  put(record: TagRecord, basis: TagRecord | undefined): Promise<PutOutcome>;
  /**
   * Moves the claim `record.delivery` on to `until` if the stored record still carries it; false,
   * writing nothing, when another pass has written the tag since (the claim is no longer this pass's).
   */
  renewDelivery(record: TagRecord, until: string): Promise<boolean>;
  /** Clears `record.delivery` if the stored record still carries that claim; false when it did not. */
  finishDelivery(record: TagRecord): Promise<boolean>;
  /**
   * For a pass that lost its claim `record.delivery` after raising or resolving some of its alerts
   * (one may have landed after the newer verdict's own): records on the stored verdict, whoever's it
   * is, a lapsed claim that makes the next pass deliver that verdict's alerts again (reopenedDelivery).
   */
  reopenDelivery(record: TagRecord, at: string): Promise<void>;
}

/**
 * The lapsed claim a pass that lost `mine.delivery` leaves on `stored`, so that the next pass to
 * judge the tag delivers the stored verdict's change in full (its alert raised, every other kind
 * resolved) after whatever this pass delivered late. When the stored verdict is this pass's own
 * (status and digest), its own change is the one left unfinished; otherwise this pass's verdict is
 * given as the previous one, which makes the stored verdict a change with alerts.
 */
export function reopenedDelivery(
  stored: Pick<TagRecord, 'status' | 'digest' | 'delivery'>,
  mine: TagRecord,
  at: string,
): TagDelivery {
  const same = stored.status === mine.status && stored.digest === mine.digest;
  // What either delivery still owed of earlier changes stays owed.
  const overtaken = distinctRaises([
    ...(mine.delivery?.overtaken ?? []),
    ...(stored.delivery?.overtaken ?? []),
  ]);
  return {
    id: crypto.randomUUID(),
    until: at,
    previous: same ? (mine.delivery?.previous ?? null) : { status: mine.status, digest: mine.digest },
    ...(overtaken.length > 0 ? { overtaken } : {}),
  };
}

/** Firestore's limit on a document's size; a verdict near it is refused (INVALID_ARGUMENT). */
export const ENTITY_LIMIT_BYTES = 1_048_576;

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

  async recordedTags(repository: string, limit: number): Promise<string[]> {
    // Refs are HOST/REPO:TAG; tags are [A-Za-z0-9_.-], so every one of the repository's sorts
    // between `HOST/REPO:` and `HOST/REPO;` (the next character).
    return this.#refsBetween(`${repository}:`, `${repository};`, limit, repository);
  }

  async recordedTagsOfHost(host: string, limit: number): Promise<string[]> {
    // Every ref of the host sorts between `HOST/` and `HOST0` ('0' follows '/'); another host
    // whose name begins with this one's (`HOST0…`, `HOST.…`) sorts outside.
    return this.#refsBetween(`${host}/`, `${host}0`, limit, host);
  }

  /** The refs in [low, high), in order, at most `limit`, read a page at a time. */
  async #refsBetween(low: string, high: string, limit: number, of: string): Promise<string[]> {
    const out: string[] = [];
    try {
      let after: string | undefined;
      while (out.length < limit) {
        const page = Math.min(1000, limit - out.length);
        let query = this.#db
          .collection(TAGS_COLLECTION)
          .where('ref', '>=', low)
          .where('ref', '<', high)
          .orderBy('ref')
          .select('ref')
          .limit(page);
        if (after !== undefined) query = query.startAfter(after);
        const snap = await query.get();
        for (const doc of snap.docs) {
          const ref = doc.get('ref');
          if (typeof ref === 'string') out.push(ref);
        }
        if (snap.size < page) break;
        after = snap.docs[snap.docs.length - 1]!.get('ref') as string;
      }
      return out;
    } catch (err) {
      throw new DependencyError(
        'firestore',
        `reading the recorded tags of ${of} failed: ${(err as Error).message}`,
        {},
        err,
      );
    }
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

  renewDelivery(record: TagRecord, until: string): Promise<boolean> {
    return this.#updateClaimed(
      record,
      { 'delivery.until': until },
      `renewing the claim on delivering the alerts of ${record.ref}`,
    );
  }

  async reopenDelivery(record: TagRecord, at: string): Promise<void> {
    const doc = this.#doc(record.ref);
    try {
      await this.#db.runTransaction(async (tx) => {
        const stored = currentRecord(await tx.get(doc));
        if (stored === undefined) return;
        tx.update(doc, { delivery: plain(reopenedDelivery(stored, record, at)) });
      });
    } catch (err) {
      throw new DependencyError(
        'firestore',
        `recording the alerts of ${record.ref} owed again failed: ${(err as Error).message}`,
        { tag: record.ref },
        err,
      );
    }
  }

  finishDelivery(record: TagRecord): Promise<boolean> {
    return this.#updateClaimed(
      record,
      { delivery: FieldValue.delete() },
      `recording the alerts of ${record.ref} delivered`,
    );
  }

  /**
   * Applies `update` to the tag's record if that still carries the claim `record.delivery`; false,
   * writing nothing, if not. `doing` names the write in the error when it fails.
   */
  async #updateClaimed(record: TagRecord, update: UpdateData<DocumentData>, doing: string): Promise<boolean> {
    const doc = this.#doc(record.ref);
    try {
      // A transaction: the write lands only over the one that carries the claim, so a pass that
      // took the tag meanwhile (and changed its update time) is seen, never overwritten.
      return await this.#db.runTransaction(async (tx) => {
        if (!holdsClaim(currentRecord(await tx.get(doc)), record)) return false;
        tx.update(doc, update);
        return true;
      });
    } catch (err) {
      throw new DependencyError(
        'firestore',
        `${doing} failed: ${(err as Error).message}`,
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

/** Whether `stored` (the tag's record now, if any) still carries the claim `mine.delivery`. */
function holdsClaim(stored: TagRecord | undefined, mine: TagRecord): boolean {
  return mine.delivery !== undefined && stored?.delivery?.id === mine.delivery.id;
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

  async recordedTags(repository: string, limit: number): Promise<string[]> {
    return this.#refsStartingWith(`${repository}:`, limit);
  }

  async recordedTagsOfHost(host: string, limit: number): Promise<string[]> {
    return this.#refsStartingWith(`${host}/`, limit);
  }

  #refsStartingWith(prefix: string, limit: number): string[] {
    return [...this.#stored.keys()]
      .filter((ref) => ref.startsWith(prefix))
      .sort()
      .slice(0, limit);
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
    const json = JSON.stringify(record);
    // As Firestore refuses it (a document's JSON is a little smaller than its entity size).
    if (Buffer.byteLength(json, 'utf8') > ENTITY_LIMIT_BYTES) {
      throw new DependencyError(
        'firestore',
        `writing the verdict of ${record.ref} failed: 3 INVALID_ARGUMENT: maximum entity size is ${ENTITY_LIMIT_BYTES} bytes`,
        { tag: record.ref },
      );
    }
    this.#stored.set(record.ref, { json, version: (version ?? 0) + 1 });
    return 'stored';
  }

  async renewDelivery(record: TagRecord, until: string): Promise<boolean> {
    return this.#updateClaimed(record, (current) => ({
      ...current,
      delivery: { ...current.delivery!, until },
    }));
  }

  async reopenDelivery(record: TagRecord, at: string): Promise<void> {
    const stored = this.#stored.get(record.ref);
    if (stored === undefined) return;
    const current = JSON.parse(stored.json) as TagRecord;
    const reopened = { ...current, delivery: reopenedDelivery(current, record, at) };
    this.#stored.set(record.ref, { json: JSON.stringify(reopened), version: stored.version + 1 });
  }

  async finishDelivery(record: TagRecord): Promise<boolean> {
    // Stored as JSON, which drops the undefined claim as Firestore deletes the field.
    return this.#updateClaimed(record, (current) => ({ ...current, delivery: undefined }));
  }

  /** Stores `update` of the tag's record if that still carries the claim `record.delivery`; false if not. */
  #updateClaimed(record: TagRecord, update: (current: TagRecord) => TagRecord): boolean {
    const stored = this.#stored.get(record.ref);
    if (stored === undefined) return false;
    const current = JSON.parse(stored.json) as TagRecord;
    if (!holdsClaim(current, record)) return false;
    this.#stored.set(record.ref, { json: JSON.stringify(update(current)), version: stored.version + 1 });
    return true;
  }
}
