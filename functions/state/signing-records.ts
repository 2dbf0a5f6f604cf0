/**
 * One Firestore document per (image digest, key version): claimed → signed → logged → attached.
 * A claim is a transaction that takes a lease, so a redelivered or concurrent message never signs
 * twice, and an attempt that crashed is resumed by the next delivery once its lease expires.
 * Signatures and log entries are stored before the next step touches the outside world, so a
 * resumed attempt reuses them instead of making a second signature (ECDSA is not deterministic).
 */
import crypto from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import { DependencyError, SigsentryError } from '../errors.ts';

export const SIGNING_RECORDS = 'signatures';
export const SCHEMA_VERSION = 1;

export type SigningState = 'claimed' | 'attached' | 'failed';

/** What one format has produced so far; each field is written once and then reused. */
export interface FormatProgress {
  /** base64 signature over the payload (or the DSSE PAE). */
  signature?: string;
  /** base64 of the exact bytes that were signed. */
  signedBytes?: string;
  /** The Sigstore bundle (JSON) once the log has witnessed the signature. */
  bundle?: unknown;
  attached?: boolean;
}

export interface SigningRecord {
  schemaVersion: number;
  /** HOST/REPO@sha256:… */
  image: string;
  digest: string;
  keyVersion: string;
  state: SigningState;
  attempts: number;
  lease: { owner: string; expiresAt: number } | null;
  formats: Record<string, FormatProgress>;
  tags: string[];
  createdAt: number;
  updatedAt: number;
  lastError?: Record<string, unknown>;
}

export type ClaimOutcome =
  | { status: 'claimed'; record: SigningRecord }
  | { status: 'done'; record: SigningRecord }
  | { status: 'busy'; until: number }
  | { status: 'exhausted'; record: SigningRecord };

export class LeaseLostError extends SigsentryError {
  constructor(image: string, owner: string) {
    super('LEASE_LOST', `lost the signing lease on ${image}; another attempt owns it`, {
      retryable: true,
      details: { image, owner },
    });
  }
}

export interface SigningStore {
  claim(
    id: { image: string; keyVersion: string },
    owner: string,
    opts: { leaseMs: number; maxAttempts: number; tag?: string },
  ): Promise<ClaimOutcome>;
  /** Writes `patch` only while `owner` still holds the lease. */
  progress(
    id: { image: string; keyVersion: string },
    owner: string,
    patch: Partial<SigningRecord>,
  ): Promise<void>;
  get(id: { image: string; keyVersion: string }): Promise<SigningRecord | undefined>;
}

export function recordId(image: string, keyVersion: string): string {
  return crypto.createHash('sha256').update(`${image}\n${keyVersion}`).digest('hex');
}

export class FirestoreSigningStore implements SigningStore {
  private readonly db: Firestore;
  private readonly now: () => number;
  constructor(db: Firestore, now: () => number = Date.now) {
    this.db = db;
    this.now = now;
  }

  private doc(id: { image: string; keyVersion: string }) {
    return this.db.collection(SIGNING_RECORDS).doc(recordId(id.image, id.keyVersion));
  }

  async claim(
    id: { image: string; keyVersion: string },
    owner: string,
    opts: { leaseMs: number; maxAttempts: number; tag?: string },
  ): Promise<ClaimOutcome> {
    const ref = this.doc(id);
    try {
      return await this.db.runTransaction(async (tx) => {
        const snap = await tx.get(ref);
        const now = this.now();
        const existing = snap.exists ? (snap.data() as SigningRecord) : undefined;
        const tags = [...new Set([...(existing?.tags ?? []), ...(opts.tag ? [opts.tag] : [])])];
        if (existing?.state === 'attached') {
          if (opts.tag && !existing.tags.includes(opts.tag)) tx.update(ref, { tags, updatedAt: now });
          return { status: 'done', record: existing };
        }
        if (existing?.lease && existing.lease.owner !== owner && existing.lease.expiresAt > now) {
          return { status: 'busy', until: existing.lease.expiresAt };
        }
        if (existing && existing.attempts >= opts.maxAttempts) {
          if (existing.state !== 'failed') tx.update(ref, { state: 'failed', lease: null, updatedAt: now });
          return { status: 'exhausted', record: { ...existing, state: 'failed' } };
        }
        const record: SigningRecord = {
          schemaVersion: SCHEMA_VERSION,
          image: id.image,
          digest: id.image.slice(id.image.indexOf('@') + 1),
          keyVersion: id.keyVersion,
          formats: {},
          createdAt: now,
          ...existing,
          state: 'claimed',
          attempts: (existing?.attempts ?? 0) + 1,
          lease: { owner, expiresAt: now + opts.leaseMs },
          tags,
          updatedAt: now,
        };
        tx.set(ref, record);
        return { status: 'claimed', record };
      });
    } catch (err) {
      throw new DependencyError('firestore', `could not claim ${id.image}`, { image: id.image }, err);
    }
  }

  async progress(id: { image: string; keyVersion: string }, owner: string, patch: Partial<SigningRecord>) {
    const ref = this.doc(id);
    const lost = await this.db
      .runTransaction(async (tx) => {
        const snap = await tx.get(ref);
        const record = snap.data() as SigningRecord | undefined;
        if (!record || record.lease?.owner !== owner) return true;
        tx.update(ref, { ...patch, updatedAt: this.now() });
        return false;
      })
      .catch((err) => {
        throw new DependencyError(
          'firestore',
          `could not record progress on ${id.image}`,
          { image: id.image },
          err,
        );
      });
    if (lost) throw new LeaseLostError(id.image, owner);
  }

  async get(id: { image: string; keyVersion: string }): Promise<SigningRecord | undefined> {
    const snap = await this.doc(id).get();
    return snap.exists ? (snap.data() as SigningRecord) : undefined;
  }
}
