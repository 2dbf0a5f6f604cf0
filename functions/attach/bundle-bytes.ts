/**
 * The bytes of a Sigstore bundle as it is attached: the same for the same bundle however its JSON
 * keys are ordered. A resumed signing attaches the bundle read back from its Firestore record,
 * whose map keys Firestore does not promise to keep in order, and attaching is idempotent only by
 * the bytes' digest: other bytes would be a second referrer. @sigstore/bundle's JSON conversion
 * writes fields in the protobuf's order.
 */
import { bundleFromJSON, bundleToJSON } from '@sigstore/bundle';

export function bundleBytes(bundle: unknown): Buffer {
  return Buffer.from(JSON.stringify(bundleToJSON(bundleFromJSON(bundle))));
}
