/**
 * A Sigstore bundle v0.3 shaped as cosign 3 signs an image (DSSE over an in-toto statement naming
 * the image), for tests of where bundles are attached and listed: not cryptographically valid.
 * `nonce` makes each bundle distinct; `subjectDigest` lets a statement name another image.
 */
import { SIGSTORE_BUNDLE_V03 } from '../../functions/attach/referrer.ts';
import type { DigestReference } from '../../functions/registry/reference.ts';
import { COSIGN_SIGN_PREDICATE } from '../../functions/sign-on-push/core.ts';

export function unsignedBundleFor(
  image: DigestReference,
  nonce: string,
  subjectDigest = image.digest,
): Buffer {
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: `${image.host}/${image.repository}`, digest: { sha256: subjectDigest.slice(7) } }],
    predicateType: COSIGN_SIGN_PREDICATE,
    predicate: { nonce },
  };
  return Buffer.from(
    JSON.stringify({
      mediaType: SIGSTORE_BUNDLE_V03,
      verificationMaterial: { publicKey: { hint: 'test' }, tlogEntries: [] },
      dsseEnvelope: {
        payload: Buffer.from(JSON.stringify(statement)).toString('base64'),
        payloadType: 'application/vnd.in-toto+json',
        signatures: [{ sig: Buffer.from(nonce).toString('base64') }],
      },
    }),
  );
}
