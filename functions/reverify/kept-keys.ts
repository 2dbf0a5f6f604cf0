/**
 * The public keys of the expected KMS key versions as KMS gave them (Firestore collection
 * `reverify-keys`, one small document per key version): written when reverifyImages or monitorLog
 * reads a key version's public key and the document is absent or differs, read when KMS refuses the public key
 * for the key version's state, so an instance started after a key was disabled still tells the
 * images signed with it (`key-disabled`) from unsigned ones, as one started before does
 * (owned-policies.ts says why a kept key cannot pass an image).
 */
import type { Firestore } from '@google-cloud/firestore';
import { z } from 'zod';
import { DependencyError } from '../errors.ts';

export const KEPT_KEYS_COLLECTION = 'reverify-keys';
const SCHEMA_VERSION = 1;

const KeptKeySchema = z.object({
  /** The key version resource name (without `gcpkms://`). */
  keyVersion: z.string().min(1),
  /** The public key, PEM, as KMS gave it. */
  pem: z.string().min(1),
  /** KMS's algorithm name (EC_SIGN_P256_SHA256, …), when known. */
  algorithm: z.string().min(1).optional(),
  /** ISO time KMS gave it. */
  readAt: z.iso.datetime(),
});
export type KeptKey = z.infer<typeof KeptKeySchema>;

export interface KeptKeyStore {
  /** The kept public key of this key version; undefined for none (or a document of another schema). */
  get(keyVersion: string): Promise<KeptKey | undefined>;
  /** Keeps it, over whatever was kept for the key version. */
  put(key: KeptKey): Promise<void>;
}

/**
 * Keeps the public key KMS gave for a key version when none or another is kept (a read, and a write
 * only then), so that reverifyImages and monitorLog instances started after KMS refuses it for its
 * state still know it. `key.keyVersion` is the resource name KMS gave. Throws the store's failures.
 */
export async function keepKmsPublicKey(
  store: KeptKeyStore,
  key: { keyVersion: string; pem: string; algorithm?: string },
  now: Date,
): Promise<void> {
  const stored = await store.get(key.keyVersion);
  if (stored?.pem === key.pem && stored.algorithm === key.algorithm) return;
  const entry: KeptKey = { keyVersion: key.keyVersion, pem: key.pem, readAt: now.toISOString() };
  if (key.algorithm !== undefined) entry.algorithm = key.algorithm;
  await store.put(entry);
}

/** Document ids may not contain `/` (nor be `.` or `..`): the name escaped, readable still. */
export function keptKeyDocumentId(keyVersion: string): string {
  return encodeURIComponent(keyVersion).replace(/\./g, '%2E');
}

function parse(data: unknown, keyVersion: string): KeptKey | undefined {
  const parsed = KeptKeySchema.safeParse(data);
  const current = parsed.success && (data as { schemaVersion?: unknown }).schemaVersion === SCHEMA_VERSION;
  // A document is only the key of the key version it names.
  return current && parsed.data.keyVersion === keyVersion ? parsed.data : undefined;
}

export class FirestoreKeptKeyStore implements KeptKeyStore {
  readonly #db: Firestore;

  constructor(db: Firestore) {
    this.#db = db;
  }

  async get(keyVersion: string): Promise<KeptKey | undefined> {
    const snap = await this.#call('reading', keyVersion, () => this.#doc(keyVersion).get());
    return parse(snap.data(), keyVersion);
  }

  async put(key: KeptKey): Promise<void> {
    const { algorithm, ...rest } = key;
    const data = {
      schemaVersion: SCHEMA_VERSION,
      ...rest,
      ...(algorithm === undefined ? {} : { algorithm }),
    };
    await this.#call('writing', key.keyVersion, () => this.#doc(key.keyVersion).set(data));
  }

  #doc(keyVersion: string) {
    return this.#db.collection(KEPT_KEYS_COLLECTION).doc(keptKeyDocumentId(keyVersion));
  }

  async #call<T>(what: string, keyVersion: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw new DependencyError(
        'firestore',
        `${what} the kept public key of ${keyVersion} failed: ${(err as Error).message}`,
        { keyVersion },
        err,
      );
    }
  }
}

/** The same store in memory: the CLI without a project, and tests. */
export class MemoryKeptKeyStore implements KeptKeyStore {
  /** By key version. */
  readonly keys = new Map<string, KeptKey>();
  /** Every `put`, in order. */
  readonly writes: KeptKey[] = [];

  async get(keyVersion: string): Promise<KeptKey | undefined> {
    const key = this.keys.get(keyVersion);
    return key === undefined ? undefined : { ...key };
  }

  async put(key: KeptKey): Promise<void> {
    this.writes.push({ ...key });
    this.keys.set(key.keyVersion, { ...key });
  }
}
