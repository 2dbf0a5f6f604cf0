/**
 * "Did sigsentry make this signature?" answered from signOnPush's signing records (Firestore
 * `signatures`). signOnPush stores each signature before it submits it to the log, so an entry
 * it made is always explained by the time the monitor sees it; a record is found by the
 * signature bytes, which only the key holder could have produced for that artifact.
 */
import type { Firestore } from '@google-cloud/firestore';
import { SignatureFormatSchema } from '../config/sign-config.ts';
import { DependencyError } from '../errors.ts';
import { SIGNING_RECORDS, type SigningRecord } from '../state/signing-records.ts';

export interface SigningRecordRef {
  image: string;
  keyVersion: string;
  format: string;
}

export interface SigningRecordLookup {
  findBySignature(signature: Buffer): Promise<SigningRecordRef | undefined>;
}

export class FirestoreSigningRecordLookup implements SigningRecordLookup {
  private readonly db: Firestore;
  private readonly formats: readonly string[];

  constructor(db: Firestore, formats: readonly string[] = SignatureFormatSchema.options) {
    this.db = db;
    this.formats = formats;
  }

  async findBySignature(signature: Buffer): Promise<SigningRecordRef | undefined> {
    const b64 = signature.toString('base64');
    try {
      const found = await Promise.all(
        this.formats.map(async (format) => {
          const snap = await this.db
            .collection(SIGNING_RECORDS)
            .where(`formats.${format}.signature`, '==', b64)
            .limit(1)
            .get();
          const record = snap.docs[0]?.data() as SigningRecord | undefined;
          return record ? { image: record.image, keyVersion: record.keyVersion, format } : undefined;
        }),
      );
      return found.find((r) => r !== undefined);
    } catch (err) {
      throw new DependencyError('firestore', 'could not look up signing records', {}, err);
    }
  }
}

/** A fixed set of known signatures (tests, and a CLI run that has no Firestore). */
export class StaticSigningRecordLookup implements SigningRecordLookup {
  private readonly known = new Map<string, SigningRecordRef>();

  add(signature: Buffer, ref: SigningRecordRef): void {
    this.known.set(signature.toString('base64'), ref);
  }

  async findBySignature(signature: Buffer): Promise<SigningRecordRef | undefined> {
    return this.known.get(signature.toString('base64'));
  }
}
