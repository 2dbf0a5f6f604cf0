/**
 * The transparency log's answer to a signing, checked before signOnPush stores it. @sigstore/sign's
 * RekorWitness only repackages what the log answered (a 201's entry, or the entry a 409's Location
 * names), so a log, a proxy in front of it or a mis-pointed REKOR_URL could hand back any entry,
 * and signOnPush would attach it as the image's signature. This witness wraps it and accepts the
 * answer only as a verifier would:
 *   - the entry is the one proposed: its canonicalized body is a hashedrekord 0.0.1 of the signed
 *     digest, the signature and the signing key, or a dsse 0.0.1 of the envelope sent (its hash),
 *     its payload (its hash), that signature and that key;
 *   - it is the configured log's: its log ID is the log key's, its signed entry timestamp verifies
 *     under that key over {body, integratedTime, logID, logIndex}, and its inclusion proof leads
 *     to the root of a checkpoint the log key signed (RekorV1Client.verifyEntry, as reverify and
 *     the monitor check entries).
 * Anything else is an UnverifiedLogEntryError, which signOnPush retries (the record keeps no
 * bundle), and gives up with a signing-failed alert after its bounded attempts.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { envelopeToJSON, type TransparencyLogEntry } from '@sigstore/bundle';
import type { SignatureBundle, VerificationMaterial, Witness } from '@sigstore/sign';
import { InvalidInputError, urlForLog } from '../errors.ts';
import { spkiDer } from '../tlog/checkpoint/keys.ts';
import { LogIntegrityError } from '../tlog/client/errors.ts';
import { RekorV1Client } from '../tlog/client/rekor-v1.ts';
import type { LogEntry } from '../tlog/client/types.ts';
import { type EntryVerifier, parseEntryBody } from '../tlog/entries/parse.ts';
import { hashLeaf } from '../tlog/merkle/hash.ts';

/**
 * The log answered a signing with an entry that does not verify as the entry proposed, in the
 * configured log: a LogIntegrityError (`reason` the check that failed, details naming the log index
 * and the signed digest), but retryable, unlike the faults a log reader meets. Nothing was stored:
 * the push is tried again (a log fixed, or REKOR_URL pointed back at the right log, then signs it),
 * and after its bounded attempts given up with a signing-failed alert carrying this error.
 */
export class UnverifiedLogEntryError extends LogIntegrityError {
  override readonly retryable = true;

  constructor(cause: LogIntegrityError, context: Record<string, unknown>) {
    // A rejected checkpoint's details carry the checkpoint's own reason ('untrusted', …): kept
    // beside the entry's, which is the one `reason` names.
    const { reason: inner, ...details } = cause.details;
    super(
      cause.reason,
      `the transparency log's answer was not stored: ${cause.message}`,
      { ...context, ...details, ...(inner !== cause.reason ? { causeReason: inner } : {}) },
      cause,
    );
  }
}

export interface VerifiedWitnessOptions {
  /** The witness that proposes the entry and returns the log's answer (a Rekor v1 RekorWitness). */
  inner: Witness;
  /** The log's base URL, as the inner witness is pointed at it (named in errors). */
  url: string;
  /** The log's public key (PEM): REKOR_PUBLIC_KEY, its file, or the public-good trusted root's. */
  logKey: string | KeyObject;
}

const sha256 = (data: Uint8Array | string): Buffer => createHash('sha256').update(data).digest();

/**
 * A key as canonical SPKI DER, so two encodings of one key compare equal; undefined if unreadable.
 * Made a KeyObject here: spkiDer would read a logged key's DER of 32 bytes as a raw Ed25519 key.
 */
function readableSpkiDer(key: Parameters<typeof createPublicKey>[0]): Buffer | undefined {
  try {
    return spkiDer(createPublicKey(key));
  } catch {
    return undefined;
  }
}

function verifierDer(verifier: EntryVerifier): Buffer | undefined {
  return verifier.type === 'publicKey'
    ? readableSpkiDer({ key: verifier.der, format: 'der', type: 'spki' })
    : undefined;
}

/** A Rekor v1 witness whose answers are verified before anything uses them. */
export class VerifiedRekorWitness implements Witness {
  private readonly inner: Witness;
  private readonly url: string;
  private readonly client: RekorV1Client;

  constructor(opts: VerifiedWitnessOptions) {
    this.inner = opts.inner;
    this.url = urlForLog(opts.url).replace(/\/+$/, '');
    try {
      // Only its checks are used (verifyEntry): it makes no request here.
      this.client = new RekorV1Client({ baseUrl: opts.url, logKey: opts.logKey });
    } catch (err) {
      throw new InvalidInputError(
        `the log key of ${this.url} is not a PEM public key: set REKOR_PUBLIC_KEY (or REKOR_PUBLIC_KEY_FILE) to the log's key`,
        { log: this.url },
        err,
      );
    }
  }

  async testify(content: SignatureBundle, publicKey: string): Promise<VerificationMaterial> {
    const material = await this.inner.testify(content, publicKey);
    const entries = material.tlogEntries ?? [];
    // What an operator needs to find the signing and the log it went to: the log and the key ID
    // its entries must carry (a mis-pointed REKOR_URL shows as another log ID), the signed digests.
    const context = {
      log: this.url,
      configuredLogId: this.client.logId.toString('hex'),
      ...signedDigests(content),
    };
    try {
      if (entries.length !== 1) {
        throw new LogIntegrityError(
          'malformed',
          `the log answered with ${entries.length} entries for one proposed`,
        );
      }
      const entry = entries[0]!;
      const v1 = rekorV1Entry(entry);
      // The log's own entry first (log ID, SET, inclusion proof, checkpoint), then ours.
      this.client.verifyEntry(v1);
      checkProposed(entry, v1.logIndex, content, publicKey);
    } catch (err) {
      if (err instanceof LogIntegrityError) throw new UnverifiedLogEntryError(err, context);
      throw err;
    }
    return material;
  }
}

/**
 * The entry as Rekor v1 answered it, back from the bundle form RekorWitness made of it: what the
 * SET was signed over and the inclusion proof proves, as a verifier of the stored bundle reads it.
 * The UUID (RekorWitness drops it) is the body's leaf hash, what a v1 UUID is; nothing records it.
 */
function rekorV1Entry(entry: TransparencyLogEntry): LogEntry {
  const body = Buffer.from(entry.canonicalizedBody ?? []);
  const set = entry.inclusionPromise?.signedEntryTimestamp;
  const proof = entry.inclusionProof;
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  return {
    uuid: hashLeaf(body).toString('hex'),
    body: body.toString('base64'),
    integratedTime: Number(entry.integratedTime),
    logID: hex(entry.logId?.keyId ?? new Uint8Array()),
    logIndex: Number(entry.logIndex),
    verification: {
      ...(set === undefined ? {} : { signedEntryTimestamp: Buffer.from(set).toString('base64') }),
      ...(proof === undefined
        ? {}
        : {
            inclusionProof: {
              logIndex: Number(proof.logIndex),
              treeSize: Number(proof.treeSize),
              rootHash: hex(proof.rootHash),
              hashes: proof.hashes.map(hex),
              ...(proof.checkpoint?.envelope === undefined ? {} : { checkpoint: proof.checkpoint.envelope }),
            },
          }),
    },
  };
}

/** The digests an error names the signing by: the signed message's, or the DSSE payload's and its subject's (the image). */
function signedDigests(content: SignatureBundle): Record<string, string> {
  if (content.$case === 'messageSignature') {
    const digest = content.messageSignature.messageDigest?.digest;
    return digest === undefined ? {} : { signedDigest: `sha256:${Buffer.from(digest).toString('hex')}` };
  }
  const payload = content.dsseEnvelope.payload;
  const out: Record<string, string> = { signedDigest: `sha256:${sha256(payload).toString('hex')}` };
  try {
    const subject = (JSON.parse(Buffer.from(payload).toString('utf8')) as { subject?: unknown }).subject;
    const image = Array.isArray(subject)
      ? (subject[0] as { digest?: { sha256?: unknown } })?.digest
      : undefined;
    if (typeof image?.sha256 === 'string') out['digest'] = `sha256:${image.sha256}`;
  } catch {
    // Not an in-toto statement: the payload's digest names it.
  }
  return out;
}

/**
 * The entry is the one RekorWitness proposed for `content` and `publicKey` (@sigstore/sign's
 * toProposedEntry), as Rekor canonicalizes it: every field compared, keys as SPKI DER (Rekor writes
 * its own PEM of the key). Throws LogIntegrityError('not-proposed-entry') listing what differs.
 */
function checkProposed(
  entry: TransparencyLogEntry,
  logIndex: number,
  content: SignatureBundle,
  publicKey: string,
): void {
  const body = Buffer.from(entry.canonicalizedBody ?? []);
  const parsed = parseEntryBody(body, logIndex);
  const kind = content.$case === 'dsseEnvelope' ? 'dsse' : 'hashedrekord';
  const differs: string[] = [];
  if (!parsed.ok) {
    differs.push(`its body cannot be read (${parsed.error.message})`);
  } else if (parsed.entry.kind !== kind || parsed.entry.apiVersion !== '0.0.1') {
    differs.push(`it is a ${parsed.entry.kind} ${parsed.entry.apiVersion} entry, not ${kind} 0.0.1`);
  } else {
    const logged = parsed.entry;
    const signature =
      content.$case === 'dsseEnvelope'
        ? content.dsseEnvelope.signatures[0]?.sig
        : content.messageSignature.signature;
    const digest =
      content.$case === 'dsseEnvelope'
        ? sha256(content.dsseEnvelope.payload)
        : content.messageSignature.messageDigest?.digest;
    const key = readableSpkiDer(publicKey);
    if (
      logged.artifactDigest?.algorithm !== 'sha256' ||
      digest === undefined ||
      logged.artifactDigest.hex !== Buffer.from(digest).toString('hex')
    ) {
      differs.push(
        `it records the digest ${logged.artifactDigest?.algorithm}:${logged.artifactDigest?.hex}, not the one signed`,
      );
    }
    if (logged.signatures.length !== 1)
      differs.push(`it records ${logged.signatures.length} signatures, not 1`);
    const only = logged.signatures[0];
    if (only !== undefined && (signature === undefined || !only.signature.equals(Buffer.from(signature)))) {
      differs.push('it records another signature');
    }
    if (only !== undefined && (key === undefined || !verifierDer(only.verifier)?.equals(key))) {
      differs.push('it records another key');
    }
    if (content.$case === 'dsseEnvelope') {
      // Rekor hashes the envelope as sent, which RekorWitness writes as JSON.stringify(envelopeToJSON).
      const sent = sha256(JSON.stringify(envelopeToJSON(content.dsseEnvelope))).toString('hex');
      if (logged.envelopeHash?.algorithm !== 'sha256' || logged.envelopeHash.hex !== sent) {
        differs.push('it records the hash of another envelope');
      }
    }
  }
  if (
    parsed.ok &&
    (entry.kindVersion?.kind !== parsed.entry.kind || entry.kindVersion?.version !== parsed.entry.apiVersion)
  ) {
    differs.push(`its kind ${entry.kindVersion?.kind} ${entry.kindVersion?.version} is not its body's`);
  }
  if (differs.length > 0) {
    throw new LogIntegrityError(
      'not-proposed-entry',
      `the log answered with entry ${logIndex}, which is not the entry proposed: ${differs.join('; ')}`,
      { logIndex, uuid: hashLeaf(body).toString('hex'), differs },
    );
  }
}
