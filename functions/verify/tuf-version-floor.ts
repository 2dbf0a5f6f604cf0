/**
 * The highest TUF metadata versions any reverifyImages instance has trusted from a mirror
 * (Firestore `tuf-versions`, one document per mirror). TUF catches a rollback only against what
 * the client trusted before, and a Cloud Run instance starts with an empty /tmp: without this, a
 * mirror serving older signed metadata, not yet expired, could keep a withdrawn key trusted by every
 * fresh instance. After each refresh the versions the instance now trusts are compared with the
 * floor (verify/public-good-root.ts), refused when lower, and raise it when higher.
 *
 * Only versions are kept, never metadata: what is trusted still starts from the root embedded in
 * @sigstore/tuf (or SIGSTORE_TUF_ROOT) and is verified by TUF. Someone who can write Firestore can
 * raise the floor (every refresh then fails, loudly) but cannot make anything trusted.
 */
import crypto from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import { z } from 'zod';
import { DependencyError } from '../errors.ts';

export const TUF_VERSIONS_COLLECTION = 'tuf-versions';

export const TUF_ROLES = ['root', 'timestamp', 'snapshot', 'targets'] as const;
export type TufRole = (typeof TUF_ROLES)[number];
export type TufVersions = Record<TufRole, number>;

const VersionsSchema = z.object({
  root: z.number().int().nonnegative(),
  timestamp: z.number().int().nonnegative(),
  snapshot: z.number().int().nonnegative(),
  targets: z.number().int().nonnegative(),
});

export interface TufVersionFloor {
  /** The highest versions trusted from `mirror` so far, or undefined for none. */
  highest(mirror: string): Promise<TufVersions | undefined>;
  /** Raises the floor of `mirror` to at least `versions`, role by role. */
  raise(mirror: string, versions: TufVersions): Promise<void>;
}

/** Each role's higher version. */
export function higherVersions(a: TufVersions | undefined, b: TufVersions): TufVersions {
  if (a === undefined) return { ...b };
  return Object.fromEntries(TUF_ROLES.map((r) => [r, Math.max(a[r], b[r])])) as TufVersions;
}

/** The roles of `trusted` older than the floor, as `role.json version N (M seen)`, or none. */
export function rolledBack(trusted: TufVersions, floor: TufVersions | undefined): string[] {
  if (floor === undefined) return [];
  return TUF_ROLES.filter((r) => trusted[r] < floor[r]).map(
    (r) => `${r}.json version ${trusted[r]} (version ${floor[r]} was trusted before)`,
  );
}

export class MemoryTufVersionFloor implements TufVersionFloor {
  readonly floors = new Map<string, TufVersions>();

  async highest(mirror: string): Promise<TufVersions | undefined> {
    const floor = this.floors.get(mirror);
    return floor === undefined ? undefined : { ...floor };
  }

  async raise(mirror: string, versions: TufVersions): Promise<void> {
    this.floors.set(mirror, higherVersions(this.floors.get(mirror), versions));
  }
}

export class FirestoreTufVersionFloor implements TufVersionFloor {
  readonly #db: Firestore;

  constructor(db: Firestore) {
    this.#db = db;
  }

  #doc(mirror: string) {
    // Document ids may not contain `/`: the mirror's hash names it, the mirror is kept inside.
    const id = crypto.createHash('sha256').update(mirror).digest('hex');
    return this.#db.collection(TUF_VERSIONS_COLLECTION).doc(id);
  }

  async highest(mirror: string): Promise<TufVersions | undefined> {
    try {
      const snap = await this.#doc(mirror).get();
      if (!snap.exists) return undefined;
      const parsed = VersionsSchema.safeParse(snap.get('versions'));
      if (!parsed.success || snap.get('mirror') !== mirror) {
        throw new Error(`the document of ${mirror} is not a version floor`);
      }
      return parsed.data;
    } catch (err) {
      throw new DependencyError(
        'firestore',
        `could not read the TUF versions trusted from ${mirror}: ${(err as Error).message}`,
        {},
        err,
      );
    }
  }

  async raise(mirror: string, versions: TufVersions): Promise<void> {
    const doc = this.#doc(mirror);
    try {
      await this.#db.runTransaction(async (tx) => {
        const snap = await tx.get(doc);
        const parsed = snap.exists ? VersionsSchema.safeParse(snap.get('versions')) : undefined;
        const floor = parsed?.success ? parsed.data : undefined;
        const next = higherVersions(floor, versions);
        if (floor !== undefined && TUF_ROLES.every((r) => next[r] === floor[r])) return;
        tx.set(doc, { mirror, versions: next, updatedAt: new Date().toISOString() });
      });
    } catch (err) {
      throw new DependencyError(
        'firestore',
        `could not record the TUF versions trusted from ${mirror}: ${(err as Error).message}`,
        {},
        err,
      );
    }
  }
}
