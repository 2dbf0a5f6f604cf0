/**
 * A Signer that signs a given byte string at most once per signing record: the first signature is
 * stored in Firestore before it is used, and a resumed attempt gets the stored one back. A retry
 * therefore re-submits the same entry to the log (an equivalent entry answers 409 and is reused)
 * instead of making a second, different ECDSA signature and a second log entry.
 */
import type { Signature, Signer } from '@sigstore/sign';
import type { FormatProgress } from '../state/signing-records.ts';

export class RecordedSigner implements Signer {
  private readonly inner: Signer;
  private readonly keyOf: () => Promise<Signature['key']>;
  private readonly stored: FormatProgress;
  private readonly save: (progress: FormatProgress) => Promise<void>;

  constructor(opts: {
    inner: Signer;
    /** The key material a replayed signature is reported with. */
    keyOf: () => Promise<Signature['key']>;
    stored: FormatProgress;
    save: (progress: FormatProgress) => Promise<void>;
  }) {
    this.inner = opts.inner;
    this.keyOf = opts.keyOf;
    this.stored = opts.stored;
    this.save = opts.save;
  }

  async sign(data: Buffer): Promise<Signature> {
    const signedBytes = data.toString('base64');
    if (this.stored.signature && this.stored.signedBytes === signedBytes) {
      return { signature: Buffer.from(this.stored.signature, 'base64'), key: await this.keyOf() };
    }
    const signature = await this.inner.sign(data);
    await this.save({ signature: signature.signature.toString('base64'), signedBytes });
    return signature;
  }
}
