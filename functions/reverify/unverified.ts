/**
 * What re-verification passes keep failing on, and since when (Firestore collection
 * `reverify-unverified`, one document per subject): a tag since its last verdict, or since the
 * first pass that failed on it when it has none; a repository or registry that could not be listed,
 * or a watch rule its host's catalog lists nothing for, since the first pass that failed on it, per
 * shard. The first failing pass keeps it; the first
 * pass that gets past it forgets it (staleness.ts).
 */
import crypto from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import { z } from 'zod';
import { DependencyError } from '../errors.ts';
import { ALREADY_EXISTS, codeOf } from '../state/firestore-codes.ts';

export const UNVERIFIED_COLLECTION = 'reverify-unverified';
const SCHEMA_VERSION = 1;

const UnverifiedSubjectSchema = z.object({
  /**
   * HOST/REPO:TAG for a tag; HOST (its catalog) or HOST/REPO (its tag list) for a listing; the glob
   * for a watch rule.
   */
  subject: z.string().min(1),
  kind: z.enum(['tag', 'listing', 'watch-rule']),
  /** ISO time it was last verified, or of the first pass in a row that failed on it. */
  since: z.iso.datetime(),
  /** A listing's or watch rule's shard (`all`, `shard-I-of-N`): each shard lists for itself. */
  scope: z.string().min(1).optional(),
  /**
   * A tag a pass could not judge for a failure nothing foresaw, raising its unjudged alert
   * (reverify/alerts.ts unjudgedAlertKey): the pass that judges it again resolves that alert.
   */
  unjudged: z.literal(true).optional(),
});
export type UnverifiedSubject = z.infer<typeof UnverifiedSubjectSchema>;

export interface UnverifiedStore {
  /** Every subject recorded as failing. */
  list(): Promise<UnverifiedSubject[]>;
  /**
   * Keeps these subjects (not among `list`'s, or among them to be marked `unjudged`). One kept
   * already (an overlapping pass, or an earlier failure) keeps its own `since`, and is marked
   * `unjudged` when the subject given is; a document `list` could not read is written over.
   */
  add(subjects: readonly UnverifiedSubject[]): Promise<void>;
  /** Forgets these subjects. */
  remove(subjects: readonly UnverifiedSubject[]): Promise<void>;
}

/**
 * A listing or watch rule is kept per shard, a tag once (it is in one shard of any layout). A watch
 * rule's glob may name a repository exactly, so its identity is marked apart from that repository's.
 */
export function subjectIdentity(s: Pick<UnverifiedSubject, 'subject' | 'kind' | 'scope'>): string {
  if (s.kind === 'watch-rule') return `${scopeOf(s)}|watch-rule|${s.subject}`;
  return s.kind === 'listing' ? `${scopeOf(s)}|${s.subject}` : s.subject;
}

/** The shard a listing was kept by: `all` when kept without one (unsharded, or the first version). */
export function scopeOf(s: Pick<UnverifiedSubject, 'scope'>): string {
  return s.scope ?? 'all';
}

function documentId(s: Pick<UnverifiedSubject, 'subject' | 'kind' | 'scope'>): string {
  // A listing kept without a scope was kept before listings were kept per shard, under its subject.
  const key = s.kind === 'listing' && s.scope === undefined ? s.subject : subjectIdentity(s);
  return crypto.createHash('sha256').update(key).digest('hex');
}

function parse(data: unknown): UnverifiedSubject | undefined {
  const parsed = UnverifiedSubjectSchema.safeParse(data);
  const current = parsed.success && (data as { schemaVersion?: unknown }).schemaVersion === SCHEMA_VERSION;
  return current ? parsed.data : undefined;
}

export class FirestoreUnverifiedStore implements UnverifiedStore {
  readonly #db: Firestore;

  constructor(db: Firestore) {
    this.#db = db;
  }

  async list(): Promise<UnverifiedSubject[]> {
    const snap = await this.#call('reading', () => this.#db.collection(UNVERIFIED_COLLECTION).get());
    // A document of another schema, or damaged, is not a subject: `add` writes over it when the
    // subject fails again, so it cannot keep a subject from ever being stale.
    return snap.docs.flatMap((doc) => parse(doc.data()) ?? []);
  }

  async add(subjects: readonly UnverifiedSubject[]): Promise<void> {
    await this.#call('recording', async () => {
      const writer = this.#db.bulkWriter();
      const created = settled(
        subjects.map(async (s) => {
          const doc = this.#doc(s);
          const data = { schemaVersion: SCHEMA_VERSION, ...s };
          try {
            await writer.create(doc, data);
          } catch (err) {
            if (codeOf(err) !== ALREADY_EXISTS) throw err;
            // Kept already (its since stands; marked unjudged if this one is), or unreadable
            // (written over).
            await this.#db.runTransaction(async (tx) => {
              const kept = parse((await tx.get(doc)).data());
              if (kept === undefined) tx.set(doc, data);
              else if (s.unjudged === true && kept.unjudged !== true) tx.update(doc, { unjudged: true });
            });
          }
        }),
      );
      await writer.close();
      await created;
    });
  }

  async remove(subjects: readonly UnverifiedSubject[]): Promise<void> {
    await this.#call('removing', async () => {
      const writer = this.#db.bulkWriter();
      const removed = settled(subjects.map((s) => writer.delete(this.#doc(s))));
      await writer.close();
      await removed;
    });
  }

  #doc(s: Pick<UnverifiedSubject, 'subject' | 'kind' | 'scope'>) {
    return this.#db.collection(UNVERIFIED_COLLECTION).doc(documentId(s));
  }

  async #call<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw new DependencyError(
        'firestore',
        `${what} the subjects re-verification is failing on failed: ${(err as Error).message}`,
        {},
        err,
      );
    }
  }
}

/**
 * All of the writes, failing with the first failure. Handled from the start: a write that fails
 * while the BulkWriter is still closing is not an unhandled rejection.
 */
function settled(writes: Array<Promise<unknown>>): Promise<void> {
  const all = Promise.all(writes).then(() => undefined);
  all.catch(() => {});
  return all;
}

/** The same store in memory: the CLI without a project, and tests of the pass logic. */
export class MemoryUnverifiedStore implements UnverifiedStore {
  /** By subjectIdentity. */
  readonly subjects = new Map<string, UnverifiedSubject>();

  async list(): Promise<UnverifiedSubject[]> {
    return [...this.subjects.values()].map((s) => ({ ...s }));
  }

  async add(subjects: readonly UnverifiedSubject[]): Promise<void> {
    for (const s of subjects) {
      const kept = this.subjects.get(subjectIdentity(s));
      if (kept === undefined) this.subjects.set(subjectIdentity(s), { ...s });
      else if (s.unjudged === true) kept.unjudged = true;
    }
  }

  async remove(subjects: readonly UnverifiedSubject[]): Promise<void> {
    for (const s of subjects) this.subjects.delete(subjectIdentity(s));
  }
}
