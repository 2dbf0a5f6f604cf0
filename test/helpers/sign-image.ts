/**
 * Test helper: signs an image in a registry the way signOnPush does (sign-on-push/core.ts), in both
 * layouts, with any @sigstore/sign Signer (LocalSigner, KmsSigner) and a Rekor witness.
 */
import { bundleToJSON } from '@sigstore/bundle';
import { DSSEBundleBuilder, MessageSignatureBundleBuilder, RekorWitness, type Signer } from '@sigstore/sign';
import { attachCosignSignature } from '../../functions/attach/cosign-layout.ts';
import { InProcessSubjectLock } from '../../functions/attach/lock.ts';
import { attachBundleReferrer } from '../../functions/attach/referrer.ts';
import { buildSimpleSigningPayload } from '../../functions/attach/simple-signing.ts';
import type { DigestReference } from '../../functions/registry/reference.ts';
import type { Registry } from '../../functions/registry/registry.ts';
import {
  IN_TOTO_PAYLOAD_TYPE,
  inTotoStatement,
  toCosignRekorBundle,
} from '../../functions/sign-on-push/core.ts';

export interface SignOptions {
  registry: Registry;
  signer: Signer;
  /** The log to record each signature in; none: signed without a log, as with REKOR_URL=none. */
  rekorUrl: string | undefined;
  formats?: Array<'cosign' | 'bundle'>;
  /** Signs the digest as if it lived in another repository (a replayed signature). */
  claimedRepository?: string;
  /** The bundle's statement names no repository, only the digest, as cosign 3 writes it. */
  namelessSubject?: boolean;
}

/** cosign 3's statement: a subject with the digest and no name. */
function namelessStatement(image: DigestReference): Buffer {
  const statement = JSON.parse(inTotoStatement(image).toString()) as { subject: Array<{ name?: string }> };
  for (const subject of statement.subject) delete subject.name;
  return Buffer.from(JSON.stringify(statement));
}

const lock = new InProcessSubjectLock();

export async function signImage(options: SignOptions, image: DigestReference): Promise<void> {
  const witnesses =
    options.rekorUrl === undefined
      ? []
      : [new RekorWitness({ rekorBaseURL: options.rekorUrl, entryType: 'dsse', fetchOnConflict: true })];
  const claimed = {
    host: image.host,
    repository: options.claimedRepository ?? image.repository,
    digest: image.digest,
  };
  for (const format of options.formats ?? ['cosign', 'bundle']) {
    if (format === 'cosign') {
      const payload = Buffer.from(buildSimpleSigningPayload(claimed, { test: 'yes' }));
      const bundle = bundleToJSON(
        await new MessageSignatureBundleBuilder({ signer: options.signer, witnesses }).create({
          data: payload,
        }),
      );
      const signature = (bundle as { messageSignature: { signature: string } }).messageSignature.signature;
      await attachCosignSignature({ registry: options.registry, lock }, image, {
        payload,
        signature,
        ...(witnesses.length > 0 ? { bundle: toCosignRekorBundle(bundle) } : {}),
      });
    } else {
      const statement = options.namelessSubject ? namelessStatement(claimed) : inTotoStatement(claimed);
      const bundle = await new DSSEBundleBuilder({ signer: options.signer, witnesses }).create({
        data: statement,
        type: IN_TOTO_PAYLOAD_TYPE,
      });
      await attachBundleReferrer(
        { registry: options.registry, lock },
        image,
        Buffer.from(JSON.stringify(bundleToJSON(bundle))),
      );
    }
  }
}
