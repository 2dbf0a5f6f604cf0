/**
 * "Did sigsentry make this entry?" answered from signOnPush's signing records (Firestore
 * `signatures`). signOnPush stores each signature, with the exact bytes it signed, before it
 * submits it to the log, so an entry it made is always explained by the time the monitor sees it.
 * A record is found by the signature bytes, but the bytes alone prove nothing: sigsentry's
 * signatures are public in the log, and for any ECDSA signature S and any digest anyone can compute
 * a public key under which S verifies over that digest (key recovery), put it in a self-made
 * certificate naming an owned identity, and log it. So a record explains an entry only when it is
 * bound to it (recordMismatch): the entry's key is the key of the record's key version, and the
 * entry's artifact is what the record signed.
 */
import crypto from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import { SignatureFormatSchema } from '../config/sign-config.ts';
import { DependencyError } from '../errors.ts';
import { paePayload } from '../signing/dsse-pae.ts';
import { SIGNING_RECORDS, type SigningRecord } from '../state/signing-records.ts';

export interface SigningRecordRef {
  image: string;
  /** The KMS key version that made the signature (the record's `keyVersion`). */
  keyVersion: string;
  format: string;
  /**
   * The exact bytes signed (the record format's `signedBytes`: the cosign payload, or the DSSE
   * PAE of the bundle format). signOnPush has written them with every signature since its first
   * version; a record without them is bound by its key alone.
   */
  signedBytes?: Buffer;
}

/** What of a matched log entry a signing record must be bound to. */
export interface EntryToExplain {
  /** The entry kind (hashedrekord, dsse, intoto, ...). */
  kind: string;
  /**
   * SHA-256 of the canonical SPKI of the key that verifies the signature: the entry's public key,
   * or its certificate's (IdentityMatch.keySha256).
   */
  keySha256: string;
  /** The entry's artifact digest (for DSSE kinds, the payload's), when its body states one. */
  artifactDigest: { algorithm: string; hex: string } | undefined;
  /**
   * The entry was matched by its key being an owned key (a `key` identity, such as a retired key
   * version listed as a PEM), not by a certificate's identity: only that key's holder signs under
   * it, and the log checked the signature.
   */
  byOwnedKey: boolean;
}

/**
 * Why `record`, found by an entry's signature, does not explain the entry; undefined when it does.
 * The record's key version must be an owned KMS identity (`keyOf` gives its key's fingerprint:
 * IdentityMatcher.keyOfVersion) whose key is the entry's key: a record stores the key version's
 * name, not its key, so a key version the monitor is not told of cannot be compared: the record
 * then explains the entry only when the entry's key is itself an owned key (a retired key version
 * listed as a PEM), and otherwise the entry is reported (the safe side). Where the record holds
 * the signed bytes, the entry's artifact digest must also be theirs (for a DSSE entry, that of
 * the payload inside the PAE). With the key bound, a sigsentry signature verifies only over what
 * sigsentry signed, so the digest check guards against a log that did not check the signature.
 */
export function recordMismatch(
  record: SigningRecordRef,
  entry: EntryToExplain,
  keyOf: (keyVersion: string) => string | undefined,
): string | undefined {
  const key = keyOf(record.keyVersion);
  if (key === undefined) {
    // A key version the monitor knows by no name (one retired from KMS_KEY and listed as a PEM):
    // bound all the same when the entry's key is an owned key, since no one else signs under it.
    if (!entry.byOwnedKey) {
      return `its key version ${record.keyVersion} is not an owned kms identity, so its key cannot be compared`;
    }
  } else if (key !== entry.keySha256) {
    return `the entry's key (sha256:${entry.keySha256}) is not the key of its key version ${record.keyVersion} (sha256:${key})`;
  }
  if (record.signedBytes === undefined) return undefined;
  const signed = signedArtifact(entry.kind, record.signedBytes);
  if (typeof signed === 'string') return signed;
  const digest = entry.artifactDigest;
  if (digest === undefined) return `the ${entry.kind} entry states no artifact digest to compare`;
  const algorithm = HASHES[digest.algorithm.toLowerCase()];
  if (algorithm === undefined)
    return `the entry's digest algorithm ${digest.algorithm} is not one sigsentry signs with`;
  const want = crypto.hash(algorithm, signed, 'hex');
  if (want !== digest.hex.toLowerCase()) {
    return `the entry's artifact (${digest.algorithm}:${digest.hex}) is not what the record signed (${digest.algorithm}:${want})`;
  }
  return undefined;
}

/** Entry digest algorithms (as parse.ts spells them, v1 and v2 alike) to node's names. */
const HASHES: Record<string, string> = { sha256: 'sha256', sha384: 'sha384', sha512: 'sha512' };

/**
 * What the entry's artifact digest covers, from the record's signed bytes: the bytes themselves
 * for a message signature (hashedrekord, rekord: the cosign format), the payload inside the DSSE
 * PAE for dsse and intoto entries (the bundle format; Rekor's payloadHash is the payload's). A
 * string says why there is nothing to compare.
 */
function signedArtifact(kind: string, signedBytes: Buffer): Buffer | string {
  switch (kind) {
    case 'hashedrekord':
    case 'rekord':
      return signedBytes;
    case 'dsse':
    case 'intoto':
      return paePayload(signedBytes) ?? 'the record signed no DSSE envelope, and the entry is one';
    default:
      return `a ${kind} entry is not one sigsentry makes`;
  }
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
          if (record === undefined) return undefined;
          const signedBytes = record.formats?.[format]?.signedBytes;
          const ref: SigningRecordRef = { image: record.image, keyVersion: record.keyVersion, format };
          return signedBytes ? { ...ref, signedBytes: Buffer.from(signedBytes, 'base64') } : ref;
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
