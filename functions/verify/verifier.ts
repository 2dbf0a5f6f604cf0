/**
 * The image verifier: every signature of one image digest, in both layouts, checked against a policy,
 * and the KMS key versions behind the good ones checked to be still ENABLED. The same core serves the
 * scheduled re-verification, the CLI and the tests; it takes its clients as arguments.
 */

import { describeError } from '../logging/describe.ts';
import { type DigestReference, formatImageReference } from '../registry/reference.ts';
import type { Registry } from '../registry/registry.ts';
import { checkBundleSignature } from './bundle-signature.ts';
import type { VerifierTrust } from './check.ts';
import { checkCosignSignature, checkUnreadableCosignLayer } from './cosign-signature.ts';
import type { ImagePolicy } from './policy.ts';
import { collectSignatures, type SignatureSources } from './sources.ts';
import {
  decideStatus,
  type FindingsOmitted,
  listedFindings,
  type SignatureFinding,
  type SignatureLayout,
  type Verdict,
} from './verdict.ts';

/** The state of a KMS key version (ENABLED, DISABLED, DESTROYED, ...), e.g. signing/kms-signer keyVersionState. */
export type KeyStateLookup = (keyVersion: string) => Promise<string>;

export interface ImageVerifierDeps {
  registry: Registry;
  trust: VerifierTrust;
  /** Absent: KMS key states are not checked (PEM keys only, or offline). */
  keyState?: KeyStateLookup;
  now?: () => Date;
}

export interface VerifyImageOptions {
  /** Layouts a good signature was found in before: one that is gone makes the verdict `missing`. */
  expectedLayouts?: readonly SignatureLayout[];
  /** Signatures already read (the caller fetched them); default: read from the registry. */
  sources?: SignatureSources;
}

/** Downgrades good signatures whose KMS key version is no longer ENABLED (and upgrades re-enabled ones). */
export async function applyKeyStates(
  findings: readonly SignatureFinding[],
  keyState: KeyStateLookup | undefined,
): Promise<SignatureFinding[]> {
  if (keyState === undefined) return [...findings];
  return await Promise.all(
    findings.map(async (f) => {
      if ((f.outcome !== 'valid' && f.outcome !== 'key-disabled') || f.keyVersion === undefined) return f;
      const state = await keyState(f.keyVersion);
      return { ...f, keyState: state, outcome: state === 'ENABLED' ? 'valid' : 'key-disabled' };
    }),
  );
}

/**
 * The verdict of `findings`, judged from its bounded listing (verdict.ts listedFindings: copies of
 * a verified signature counted on it, past the first ones of each group the rest counted by outcome,
 * never a status changed), so a verdict judged again from its stored listing, with the counts it
 * keeps (`omitted`: a stored verdict's or record's), is the same verdict.
 */
export function verdictOf(
  image: DigestReference,
  findings: SignatureFinding[],
  fingerprint: SignatureSources['fingerprint'],
  now: Date,
  expectedLayouts: readonly SignatureLayout[] = [],
  omitted: FindingsOmitted = {},
): Verdict {
  // Stored with the tag and quoted in alerts: listed bounded, each text too (verdict.ts boundFinding).
  const listed = listedFindings(findings, omitted);
  const { status, reasons } = decideStatus(listed.findings, expectedLayouts, listed.omitted);
  return {
    status,
    image: formatImageReference({ host: image.host, repository: image.repository, digest: image.digest }),
    digest: image.digest,
    reasons,
    findings: listed.findings,
    ...listed.omitted,
    evidence: { ...fingerprint, checkedAt: now.toISOString() },
  };
}

/**
 * One signature's check, whose exception is that signature's finding, never the verdict's. The
 * checks are synchronous functions of bytes already read, the policy and the trust (no I/O), so an
 * exception from one is never an outage: it is a check that could not be made on what someone
 * pushed (or a defect of ours). Left to reject verifyImage, it would make the tag an error of the
 * reverify pass and its last (valid) verdict stand, so a junk referrer anyone can push would freeze
 * a tag's verdict (found by review). It is `invalid`, naming the error: whether the signature
 * claims an expected signer is not known, and a signature that cannot be checked must fail closed
 * (a broken signature outranks a good one), never be ignored as another signer's.
 */
function checkedAlone(
  layout: SignatureLayout,
  location: string,
  check: () => SignatureFinding,
): SignatureFinding {
  try {
    return check();
  } catch (err) {
    return {
      layout,
      location,
      outcome: 'invalid',
      reason: `the signature could not be checked (${describeError(err)})`,
    };
  }
}

export async function verifyImage(
  deps: ImageVerifierDeps,
  image: DigestReference,
  policy: ImagePolicy,
  options: VerifyImageOptions = {},
): Promise<Verdict> {
  const sources = options.sources ?? (await collectSignatures(deps.registry, image));
  const findings: SignatureFinding[] = [];
  if (sources.cosignError !== undefined) {
    findings.push({
      layout: 'cosign',
      location: sources.fingerprint.signatureManifest ?? 'sig-tag',
      outcome: 'invalid',
      reason: sources.cosignError,
    });
  }
  for (const sig of sources.cosign) {
    findings.push(
      checkedAlone('cosign', sig.layer.digest, () => checkCosignSignature(sig, image, policy, deps.trust)),
    );
  }
  for (const layer of sources.cosignUnreadable ?? []) {
    findings.push(
      checkedAlone('cosign', layer.layer.digest, () => checkUnreadableCosignLayer(layer, policy)),
    );
  }
  for (const bundle of sources.bundles) {
    findings.push(
      bundle.bytes === undefined
        ? {
            layout: 'bundle',
            location: bundle.location,
            outcome: 'foreign',
            reason: bundle.error ?? 'unreadable',
          }
        : {
            ...checkedAlone('bundle', bundle.location, () =>
              checkBundleSignature(bundle.bytes!, bundle.location, image, policy, deps.trust),
            ),
            // What it was read from besides its referrer, for a later pass to check (verdict.ts).
            ...(bundle.blob === undefined ? {} : { bundleBlob: bundle.blob }),
          },
    );
  }
  const checked = await applyKeyStates(findings, deps.keyState);
  return verdictOf(
    image,
    checked,
    sources.fingerprint,
    (deps.now ?? (() => new Date()))(),
    options.expectedLayouts,
  );
}
