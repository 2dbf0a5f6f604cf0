/**
 * One Firestore document per (image digest, key version): claimed → signed → logged → attached.
 * A claim takes a lease with a compare-and-set on the document, so a redelivered or concurrent
 * message never signs twice, and an attempt that crashed is resumed by the next delivery once its
 * lease expires. Signatures and log entries are stored before the next step touches the outside
 * world, so a resumed attempt reuses them instead of making a second signature (ECDSA is not
 * deterministic).
 */
import crypto from 'node:crypto';
import type { DocumentReference, DocumentSnapshot, Firestore, Timestamp } from '@google-cloud/firestore';
import { DependencyError, SigsentryError } from '../errors.ts';
import { ALREADY_EXISTS, codeOf, FAILED_PRECONDITION } from './firestore-codes.ts';

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

export interface ClaimOptions {
  leaseMs: number;
  maxAttempts: number;
  tag?: string;
  retryFailed?: boolean;
  /**
   * The formats the image must be attached in. A record attached without one of them (a format
   * added to the rule since) is claimed again for it; the formats it has stay as they are.
   */
  formats?: readonly string[];
}

/** Whether an attached record still lacks one of `formats` (a format added to the rule since). */
export function lacksFormat(record: SigningRecord, formats: readonly string[] | undefined): boolean {
  return (formats ?? []).some(
    (format) => !record.formats[format as keyof SigningRecord['formats']]?.attached,
  );
}

export interface SigningStore {
  claim(id: { image: string; keyVersion: string }, owner: string, opts: ClaimOptions): Promise<ClaimOutcome>;
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

/** Attempts of one claim when other writers keep changing the document under it. */
const CLAIM_ROUNDS = 8;
/** Write times remembered for the fast progress path (attempts in flight in this instance). */
const REMEMBERED_WRITES = 10_000;

/**
 * The lease holder is the only writer of a record until its lease expires: a claim that finds the
 * lease held writes nothing. So a progress write made on the condition that the document is still
 * as this attempt last wrote it (its update time) cannot overwrite anyone: one write, no read. When
 * the condition fails, or the time is unknown, the transaction reads the owner first.
 */
export class FirestoreSigningStore implements SigningStore {
  private readonly db: Firestore;
  private readonly now: () => number;
  /** Per record and owner: the update time of this attempt's last write. */
  private readonly lastWrite = new Map<string, Timestamp>();
  constructor(db: Firestore, now: () => number = Date.now) {
    this.db = db;
    this.now = now;
  }

  private doc(id: { image: string; keyVersion: string }) {
    return this.db.collection(SIGNING_RECORDS).doc(recordId(id.image, id.keyVersion));
  }

  private remember(ref: DocumentReference, owner: string, time: Timestamp | undefined): void {
    const key = `${ref.id}\n${owner}`;
    this.lastWrite.delete(key);
    if (time === undefined) return;
    this.lastWrite.set(key, time);
    if (this.lastWrite.size > REMEMBERED_WRITES) this.lastWrite.delete(this.lastWrite.keys().next().value!);
  }

  async claim(
    id: { image: string; keyVersion: string },
    owner: string,
    opts: ClaimOptions,
  ): Promise<ClaimOutcome> {
    const ref = this.doc(id);
    try {
      for (let round = 0; round < CLAIM_ROUNDS; round++) {
        const outcome = await this.claimOnce(ref, id, owner, opts, await ref.get()).catch((err) => {
          // Someone wrote between the read and the write: read again and decide again.
          if (codeOf(err) === FAILED_PRECONDITION || codeOf(err) === ALREADY_EXISTS) return undefined;
          throw err;
        });
        if (outcome !== undefined) return outcome;
      }
      throw new Error(`the record changed under ${CLAIM_ROUNDS} claims in a row`);
    } catch (err) {
      throw new DependencyError('firestore', `could not claim ${id.image}`, { image: id.image }, err);
    }
  }

  /** Decides on `snap` and writes on the condition that the document is still `snap`. */
  private async claimOnce(
    ref: DocumentReference,
    id: { image: string; keyVersion: string },
    owner: string,
    opts: ClaimOptions,
    snap: DocumentSnapshot,
  ): Promise<ClaimOutcome> {
    const now = this.now();
    const existing = snap.exists ? (snap.data() as SigningRecord) : undefined;
    const unchanged = { lastUpdateTime: snap.updateTime! };
    const tags = [...new Set([...(existing?.tags ?? []), ...(opts.tag ? [opts.tag] : [])])];
    // Attached in every format asked for: done. Attached, but not in a format added since: a new
    // signing of that format, with a fresh count of attempts.
    const reopened = existing?.state === 'attached' && lacksFormat(existing, opts.formats);
    if (existing?.state === 'attached' && !reopened) {
      if (opts.tag && !existing.tags.includes(opts.tag))
        await ref.update({ tags, updatedAt: now }, unchanged);
      return { status: 'done', record: existing };
    }
    if (existing?.lease && existing.lease.owner !== owner && existing.lease.expiresAt > now) {
      return { status: 'busy', until: existing.lease.expiresAt };
    }
    // A record out of attempts, asked to be retried, starts a new count; what it signed and
    // logged stays in its formats, so nothing is signed or logged twice.
    const retried =
      opts.retryFailed === true && existing !== undefined && existing.attempts >= opts.maxAttempts;
    if (existing && existing.attempts >= opts.maxAttempts && !retried && !reopened) {
      // The tag is kept even so: the record says which tags name the image it could not sign.
      const newTag = tags.length !== existing.tags.length;
      if (existing.state !== 'failed' || newTag)
        await ref.update({ state: 'failed', lease: null, tags, updatedAt: now }, unchanged);
      return { status: 'exhausted', record: { ...existing, state: 'failed', tags } };
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
      attempts: retried || reopened ? 1 : (existing?.attempts ?? 0) + 1,
      lease: { owner, expiresAt: now + opts.leaseMs },
      tags,
      updatedAt: now,
    };
    // Every field is written, so the record is whole whether it was created or taken over.
    const written = existing ? await ref.update({ ...record }, unchanged) : await ref.create(record);
    this.remember(ref, owner, written.writeTime);
    return { status: 'claimed', record };
  }

  async progress(id: { image: string; keyVersion: string }, owner: string, patch: Partial<SigningRecord>) {
    const ref = this.doc(id);
    const update = { ...patch, updatedAt: this.now() };
    const last = this.lastWrite.get(`${ref.id}\n${owner}`);
    if (last !== undefined) {
      const written = await ref.update(update, { lastUpdateTime: last }).catch((err) => {
        if (codeOf(err) === FAILED_PRECONDITION) return undefined;
        throw new DependencyError(
          'firestore',
          `could not record progress on ${id.image}`,
          { image: id.image },
          err,
        );
      });
      if (written !== undefined) {
        this.remember(ref, owner, patch.lease === null ? undefined : written.writeTime);
        return;
      }
    }
    // Someone else wrote (or a write's answer was lost): check the owner inside a transaction.
    this.remember(ref, owner, undefined);
    const lost = await this.db
      .runTransaction(async (tx) => {
        const snap = await tx.get(ref);
        const record = snap.data() as SigningRecord | undefined;
        if (!record || record.lease?.owner !== owner) return true;
        tx.update(ref, update);
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
