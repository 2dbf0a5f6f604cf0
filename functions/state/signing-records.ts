/**
 * One Firestore document per (image digest, key version): claimed → signed → logged → attached.
 * Once attached, a record stays attached: a format added to the rule since is signed with attempts
 * of its own (`adding`), and one given up on is listed in `failedFormats`, never `failed` (which
 * means attached in no format).
 * A claim takes a lease with a compare-and-set on the document, so a redelivered or concurrent
 * message never signs twice, and an attempt that crashed is resumed by the next delivery once its
 * lease expires. Signatures and log entries are stored before the next step touches the outside
 * world, so a resumed attempt reuses them instead of making a second signature (ECDSA is not
 * deterministic).
 */
import crypto from 'node:crypto';
import {
  type DocumentReference,
  type DocumentSnapshot,
  FieldValue,
  type Firestore,
  Timestamp,
} from '@google-cloud/firestore';
import { DependencyError, SigsentryError } from '../errors.ts';
import { ALREADY_EXISTS, codeOf, FAILED_PRECONDITION } from './firestore-codes.ts';

export const SIGNING_RECORDS = 'signatures';
export const SCHEMA_VERSION = 1;

/**
 * claimed: a signing is at work (or was, and a redelivery goes on with it); attached: attached in
 * the formats whose progress says so, verifiable in them; failed: out of attempts, attached in none.
 */
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
  /**
   * The tags pushes named this digest by, oldest first: at most TAGS_KEPT, the most recently added
   * (a tag already listed keeps its place; one dropped and pushed again is added anew).
   */
  tags: string[];
  /** Tags dropped from `tags` to keep the record bounded, counted as they were dropped. Absent: none. */
  tagsOmitted?: number;
  createdAt: number;
  updatedAt: number;
  lastError?: Record<string, unknown>;
  /**
   * The formats an attached record is being signed in (added to the rule since): set by the claim
   * that starts their count of attempts, so the next claims go on with it; empty (or absent, in
   * records written before) when `attempts` counts the record's first signing.
   */
  adding?: string[];
  /**
   * The formats given up on (attempts exhausted, alerted) while the record stays attached in the
   * others; a later push tries them again with a fresh count. Empty or absent: none.
   */
  failedFormats?: string[];
  /**
   * When the formats in `failedFormats` were given up on (ms). Only a push published after it starts
   * a fresh count for them: a redelivery, or a push already in flight then, finds them given up.
   */
  failedAt?: number;
  /** The attempts made before that give-up, for a message told of it later. */
  failedAttempts?: number;
}

export type ClaimOutcome =
  | { status: 'claimed'; record: SigningRecord }
  /**
   * `finished`: formats a signing attached whose last write was lost; `dropped`: formats given up
   * on that the rule no longer asks for. Any incident of theirs is over.
   */
  | { status: 'done'; record: SigningRecord; finished?: string[]; dropped?: string[] }
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
  /**
   * When the message asking for the claim was published (ms; Pub/Sub's publishTime). Undefined for
   * an operator's `sigsentry sign`, which is a new request.
   */
  publishedAt?: number;
}

/** A record's formats as far as whether each is attached (all a reader may have selected). */
export type AttachedBits = { formats?: Record<string, FormatProgress | undefined> };

/** Which of `formats` the record is not attached in. */
export function lackingFormats(record: AttachedBits, formats: readonly string[] | undefined): string[] {
  return (formats ?? []).filter((format) => record.formats?.[format]?.attached !== true);
}

/** The formats the record is attached in (verifiable in), in name order. */
export function attachedFormats(record: AttachedBits): string[] {
  return Object.entries(record.formats ?? {})
    .filter(([, progress]) => progress?.attached === true)
    .map(([format]) => format)
    .sort();
}

/**
 * The state a reader should take the record for: a record marked `failed` while attached in some
 * format (written before `failed` meant "attached in none", when a format added since ran out of
 * attempts) is attached in those formats. Its next claim treats it so.
 */
export function effectiveState(record: Pick<SigningRecord, 'state'> & AttachedBits): SigningState {
  return record.state === 'failed' && attachedFormats(record).length > 0 ? 'attached' : record.state;
}

/**
 * The formats an attached record was given up on and still lacks: its `failedFormats`, or for a
 * record written `failed` before that field existed, the formats it began and did not attach.
 */
export function failingFormats(
  record: Pick<SigningRecord, 'state' | 'failedFormats'> & AttachedBits,
): string[] {
  if (effectiveState(record) !== 'attached') return [];
  const listed = record.state === 'failed' ? Object.keys(record.formats ?? {}) : (record.failedFormats ?? []);
  return lackingFormats(record, [...new Set(listed)]).sort();
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

/**
 * Tags a record lists at most. Only the dashboard reads them (a signing row's tags, and the state of
 * a tag no re-verification pass has judged yet, which is a recent one); a digest re-tagged for years
 * (a reproducible nightly build) would otherwise grow its record past Firestore's 1 MiB entity
 * limit, and every later claim of it would fail until dead-lettered.
 */
export const TAGS_KEPT = 100;

/**
 * The record's tags with `tag` added (at the end, unless listed already), the oldest dropped past
 * TAGS_KEPT and counted; `changed` when that differs from what the record holds.
 */
export function keptTags(
  existing: Pick<SigningRecord, 'tags' | 'tagsOmitted'> | undefined,
  tag: string | undefined,
): { tags: string[]; tagsOmitted: number; changed: boolean } {
  const before = [...new Set(existing?.tags ?? [])];
  const added = tag !== undefined && tag !== '' && !before.includes(tag);
  const all = added ? [...before, tag] : before;
  const dropped = Math.max(0, all.length - TAGS_KEPT);
  return {
    tags: all.slice(dropped),
    tagsOmitted: (existing?.tagsOmitted ?? 0) + dropped,
    changed: added || dropped > 0 || before.length !== (existing?.tags ?? []).length,
  };
}

export function recordId(image: string, keyVersion: string): string {
  return crypto.createHash('sha256').update(`${image}\n${keyVersion}`).digest('hex');
}

/**
 * What a claim of `existing` decides, and what it writes (on the condition that the record is still
 * `existing`): fields to update, or, when it takes the lease, the whole record. Kept apart from
 * Firestore so every store claims by the same rules.
 */
export function decideClaim(
  existing: SigningRecord | undefined,
  id: { image: string; keyVersion: string },
  owner: string,
  opts: ClaimOptions,
  now: number,
): { outcome: ClaimOutcome; write?: Partial<SigningRecord> } {
  const kept = keptTags(existing, opts.tag);
  const newTag = kept.changed;
  // Written with every `tags` (bounded: TAGS_KEPT), with the count of those dropped.
  const tagFields = {
    tags: kept.tags,
    ...(kept.tagsOmitted > 0 ? { tagsOmitted: kept.tagsOmitted } : {}),
  };
  const attachedIn = existing ? attachedFormats(existing) : [];
  // A record stays attached in the formats it has, including one marked failed before that meant
  // "attached in none".
  const attached = existing !== undefined && effectiveState(existing) === 'attached';
  const lacking = existing ? lackingFormats(existing, opts.formats) : [];
  const attachedAdding = (existing?.adding ?? []).filter((f) => attachedIn.includes(f));
  const finished = attachedAdding.length > 0 ? { finished: attachedAdding } : {};
  // Attached in every format asked for: done. Formats still listed as given up on are ones the
  // rule no longer asks for.
  if (existing && attached && lacking.length === 0) {
    const dropped = existing.failedFormats?.length ? { dropped: existing.failedFormats } : {};
    const settle = Boolean(existing.adding?.length || existing.failedFormats?.length);
    const write = {
      ...tagFields,
      updatedAt: now,
      // The formats being added were attached, and the write saying so lost.
      ...(settle ? { adding: [], failedFormats: [] } : {}),
    };
    return {
      outcome: { status: 'done', record: existing, ...finished, ...dropped },
      ...(newTag || settle ? { write } : {}),
    };
  }
  // A message published before the formats it asks for were last given up on (a redelivery, or a
  // push in flight then) finds them given up, even while a later push's count runs: each message
  // takes part in one count at most, so no message gets attempts past the bound, nor deliveries
  // past Pub/Sub's dead-letter bound. It is told again (the alert's key keeps it one incident).
  if (
    existing &&
    attached &&
    existing.failedAt !== undefined &&
    opts.publishedAt !== undefined &&
    opts.publishedAt <= existing.failedAt
  ) {
    const record = {
      ...existing,
      ...tagFields,
      // What was given up on, not the count a later push may have under way.
      attempts: existing.failedAttempts ?? existing.attempts,
      failedFormats: existing.failedFormats?.length ? existing.failedFormats : lacking,
    };
    return {
      outcome: { status: 'exhausted', record },
      ...(newTag ? { write: { ...tagFields, updatedAt: now } } : {}),
    };
  }
  if (existing?.lease && existing.lease.owner !== owner && existing.lease.expiresAt > now) {
    return { outcome: { status: 'busy', until: existing.lease.expiresAt } };
  }
  // Attached in every format asked for, but the signing's last write was lost (a claim left over):
  // done, and recorded so, never given up on.
  if (existing && !attached && attachedIn.length > 0 && opts.formats?.length && lacking.length === 0) {
    const write: Partial<SigningRecord> = {
      state: 'attached',
      lease: null,
      adding: [],
      failedFormats: [],
      ...tagFields,
      updatedAt: now,
    };
    return { outcome: { status: 'done', record: { ...existing, ...write }, ...finished }, write };
  }
  // Attached, but not in a format added since: a signing of that format with a count of attempts
  // of its own, started here (`adding` then says the count is its) and gone on with by the next
  // claims; after a give-up, by a push published since (above) or an operator's `sigsentry sign`.
  const reopened = attached && !existing?.adding?.length;
  // A record out of attempts, asked to be retried, starts a new count; what it signed and
  // logged stays in its formats, so nothing is signed or logged twice.
  const retried =
    opts.retryFailed === true && existing !== undefined && existing.attempts >= opts.maxAttempts;
  if (existing && existing.attempts >= opts.maxAttempts && !retried && !reopened) {
    if (attached || attachedIn.length > 0) {
      // Attached in some formats: it stays so, and the formats it lacks are given up on (alerted
      // here); a push published later starts a fresh count for them.
      const unattached = lackingFormats(existing, Object.keys(existing.formats));
      const write: Partial<SigningRecord> = {
        state: 'attached',
        lease: null,
        adding: [],
        failedFormats: [...new Set(lacking.length > 0 ? lacking : unattached)].sort(),
        failedAt: now,
        failedAttempts: existing.attempts,
        ...tagFields,
        updatedAt: now,
      };
      return { outcome: { status: 'exhausted', record: { ...existing, ...write } }, write };
    }
    // The tag is kept even so: the record says which tags name the image it could not sign.
    const write = existing.state !== 'failed' || newTag;
    return {
      outcome: { status: 'exhausted', record: { ...existing, state: 'failed', ...tagFields } },
      ...(write ? { write: { state: 'failed', lease: null, ...tagFields, updatedAt: now } } : {}),
    };
  }
  const record: SigningRecord = {
    schemaVersion: SCHEMA_VERSION,
    image: id.image,
    digest: id.image.slice(id.image.indexOf('@') + 1),
    keyVersion: id.keyVersion,
    formats: {},
    createdAt: now,
    ...existing,
    state: attached ? 'attached' : 'claimed',
    attempts: retried || reopened ? 1 : (existing?.attempts ?? 0) + 1,
    // A format being signed again is no longer shown given up on.
    ...(attached ? { adding: lacking, ...(reopened ? { failedFormats: [] } : {}) } : {}),
    lease: { owner, expiresAt: now + opts.leaseMs },
    ...tagFields,
    updatedAt: now,
  };
  return { outcome: { status: 'claimed', record }, write: record };
}

/** A record as stored: `failedAt` is a Firestore timestamp (the server's time of the give-up). */
function storedRecord(data: Record<string, unknown>): SigningRecord {
  const failedAt = data['failedAt'];
  return (failedAt instanceof Timestamp
    ? { ...data, failedAt: failedAt.toMillis() }
    : data) as unknown as SigningRecord;
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
    const existing = snap.exists ? storedRecord(snap.data()!) : undefined;
    const unchanged = { lastUpdateTime: snap.updateTime! };
    const { outcome, write } = decideClaim(existing, id, owner, opts, this.now());
    if (write === undefined) return outcome;
    if (outcome.status !== 'claimed') {
      // A give-up is timed by Firestore's clock: Pub/Sub's publish times are compared with it, and
      // the instance's clock may be off by more than the time between two pushes.
      const update =
        write.failedAt === undefined ? write : { ...write, failedAt: FieldValue.serverTimestamp() };
      await ref.update({ ...update }, unchanged);
      return outcome;
    }
    // Every field is written, so the record is whole whether it was created or taken over.
    const written = existing ? await ref.update({ ...write }, unchanged) : await ref.create(write);
    this.remember(ref, owner, written.writeTime);
    return outcome;
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
    return snap.exists ? storedRecord(snap.data()!) : undefined;
  }
}
