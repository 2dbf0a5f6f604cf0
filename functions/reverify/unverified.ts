/**
 * Since when a pass has been failing on what has no verdict to date it: a tag never verified, and a
 * repository or registry that could not be listed (Firestore collection `reverify-unverified`, one
 * document per subject). A tag with a verdict was last verified at its record's `checkedAt`, so it
 * needs nothing here. The first failing pass records the time; the first pass that gets past the
 * subject (or no longer meets it) removes it.
 */
import crypto from 'node:crypto';
import type { Firestore, WriteBatch } from '@google-cloud/firestore';
import { z } from 'zod';
import { DependencyError } from '../errors.ts';

export const UNVERIFIED_COLLECTION = 'reverify-unverified';
const SCHEMA_VERSION = 1;

const UnverifiedSubjectSchema = z.object({
  /** HOST/REPO:TAG for a tag; HOST (its catalog) or HOST/REPO (its tag list) for a listing. */
  subject: z.string().min(1),
  kind: z.enum(['tag', 'listing']),
  /** ISO time of the first pass in a row that failed on it. */
  since: z.iso.datetime(),
});
export type UnverifiedSubject = z.infer<typeof UnverifiedSubjectSchema>;

export interface UnverifiedStore {
  /** Every subject recorded as failing. */
  list(): Promise<UnverifiedSubject[]>;
  /** Records these subjects (not among `list`'s) as failing since their `since`. */
  add(subjects: readonly UnverifiedSubject[]): Promise<void>;
  /** Forgets these subjects. */
  remove(subjects: readonly string[]): Promise<void>;
}

function documentId(subject: string): string {
  return crypto.createHash('sha256').update(subject).digest('hex');
}

export class FirestoreUnverifiedStore implements UnverifiedStore {
  readonly #db: Firestore;

  constructor(db: Firestore) {
    this.#db = db;
  }

  async list(): Promise<UnverifiedSubject[]> {
    const snap = await this.#call('reading', () => this.#db.collection(UNVERIFIED_COLLECTION).get());
    const out: UnverifiedSubject[] = [];
    // A document of another schema, or damaged, is not a subject: `add` writes over it when the
    // subject fails again, so it cannot keep a subject from ever being stale.
    for (const doc of snap.docs) {
      const data = doc.data();
      const parsed = UnverifiedSubjectSchema.safeParse(data);
      if (parsed.success && data['schemaVersion'] === SCHEMA_VERSION) out.push(parsed.data);
    }
    return out;
  }

  async add(subjects: readonly UnverifiedSubject[]): Promise<void> {
    await this.#write('recording', subjects, (batch, s) =>
      batch.set(this.#doc(s.subject), { schemaVersion: SCHEMA_VERSION, ...s }),
    );
  }

  async remove(subjects: readonly string[]): Promise<void> {
    await this.#write('removing', subjects, (batch, s) => batch.delete(this.#doc(s)));
  }

  #doc(subject: string) {
    return this.#db.collection(UNVERIFIED_COLLECTION).doc(documentId(subject));
  }

  /** Writes in batches of 500, Firestore's limit per batch. */
  async #write<T>(
    what: string,
    items: readonly T[],
    each: (batch: WriteBatch, item: T) => void,
  ): Promise<void> {
    for (let i = 0; i < items.length; i += 500) {
      const batch = this.#db.batch();
      for (const item of items.slice(i, i + 500)) each(batch, item);
      await this.#call(what, () => batch.commit());
    }
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

/** The same store in memory: the CLI without a project, and tests of the pass logic. */
export class MemoryUnverifiedStore implements UnverifiedStore {
  readonly subjects = new Map<string, UnverifiedSubject>();

  async list(): Promise<UnverifiedSubject[]> {
    return [...this.subjects.values()].map((s) => ({ ...s }));
  }

  async add(subjects: readonly UnverifiedSubject[]): Promise<void> {
    for (const s of subjects) this.subjects.set(s.subject, { ...s });
  }

  async remove(subjects: readonly string[]): Promise<void> {
    for (const s of subjects) this.subjects.delete(s);
  }
}
