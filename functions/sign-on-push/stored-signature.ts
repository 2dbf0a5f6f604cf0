/**
 * A signature gone from the registry is attached again from its signing record (core.ts
 * keepAttached), with no new signature. The record is state any writer of the database could
 * change, not an authority on what the organisation's key signed (README), so what it stores is
 * attached again only if it is this image's and verifies under the key the rule signs with, as
 * reverifyImages would judge it (verify/check.ts: the key's default digest). Anything else is
 * refused before it reaches the registry. Found by review: a record's stored bundle was attached
 * as it was, whichever image or key it named.
 */
import crypto from 'node:crypto';
import { dsse } from '@sigstore/core';
import type { CosignSignature } from '../attach/cosign-layout.ts';
import { PolicyViolationError } from '../errors.ts';
import { type DigestReference, formatImageReference } from '../registry/reference.ts';
import { describeError } from '../verify/describe.ts';

/** A format's stored signature, as keepAttached would attach it. */
export type StoredSignature =
  | { format: 'cosign'; signature: CosignSignature }
  | { format: 'bundle'; bytes: Buffer; statement: Buffer };

/**
 * Throws PolicyViolationError unless `stored` is a signature of `image` that verifies under
 * `publicKeyPem` (a PEM public key, or a PEM certificate's): for the cosign layout, its signature over the stored payload (whose naming of the
 * image was checked when it was read); for a bundle, its DSSE signature over the PAE of exactly
 * `statement`, this image's in-toto statement.
 */
export function assertStoredSignatureVerifies(
  image: DigestReference,
  stored: StoredSignature,
  publicKeyPem: string,
): void {
  const refuse = (why: string) =>
    new PolicyViolationError(
      `refusing to attach again the ${stored.format} signature stored for ${formatImageReference(image)}: ${why}`,
      { image: formatImageReference(image), format: stored.format },
    );
  let message: Buffer;
  let signature: Buffer;
  if (stored.format === 'cosign') {
    message = Buffer.from(stored.signature.payload);
    signature = Buffer.from(stored.signature.signature, 'base64');
  } else {
    let envelope: { payload?: unknown; payloadType?: unknown; signatures?: Array<{ sig?: unknown }> };
    try {
      envelope =
        (JSON.parse(stored.bytes.toString('utf8')) as { dsseEnvelope?: typeof envelope }).dsseEnvelope ?? {};
    } catch (err) {
      throw refuse(`its bundle is not JSON (${describeError(err)})`);
    }
    const sig = envelope.signatures?.[0]?.sig;
    if (
      typeof envelope.payload !== 'string' ||
      typeof envelope.payloadType !== 'string' ||
      typeof sig !== 'string'
    ) {
      throw refuse('its bundle holds no DSSE envelope with a signature');
    }
    const payload = Buffer.from(envelope.payload, 'base64');
    if (!payload.equals(stored.statement)) throw refuse("its statement is not this image's");
    message = dsse.preAuthEncoding(envelope.payloadType, payload);
    signature = Buffer.from(sig, 'base64');
  }
  let verifies = false;
  try {
    const key = publicKeyPem.includes('-----BEGIN CERTIFICATE-----')
      ? new crypto.X509Certificate(publicKeyPem).publicKey
      : crypto.createPublicKey(publicKeyPem);
    verifies = crypto.verify(null, message, key, signature);
  } catch {
    // A key or signature that cannot be read verifies nothing.
  }
  if (!verifies) throw refuse('it does not verify under the key the rule signs with');
}
