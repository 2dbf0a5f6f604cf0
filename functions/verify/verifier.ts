/**
 * The image verifier: every signature of one image digest, in both layouts, checked against a policy,
 * and the KMS key versions behind the good ones checked to be still ENABLED. The same core serves the
 * scheduled re-verification, the CLI and the tests; it takes its clients as arguments.
 */
import { type DigestReference, formatImageReference } from '../registry/reference.ts';
import type { Registry } from '../registry/registry.ts';
import { checkBundleSignature } from './bundle-signature.ts';
import type { VerifierTrust } from './check.ts';
import { checkCosignSignature, checkUnreadableCosignLayer } from './cosign-signature.ts';
import type { ImagePolicy } from './policy.ts';
import { collectSignatures, type SignatureSources } from './sources.ts';
import {
  boundFinding,
  decideStatus,
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
 * The verdict of `findings`: its status decided from all of them, its listing bounded (verdict.ts
 * listedFindings: foreign ones past the first MAX_FOREIGN_FINDINGS counted in `foreignOmitted`, never
 * one that decides the status). `foreignOmitted`: foreign findings already left out of `findings`
 * (a stored verdict's), so a verdict judged again from its stored listing is the same verdict.
 */
export function verdictOf(
  image: DigestReference,
  findings: SignatureFinding[],
  fingerprint: SignatureSources['fingerprint'],
  now: Date,
  expectedLayouts: readonly SignatureLayout[] = [],
  foreignOmitted = 0,
): Verdict {
  const { status, reasons } = decideStatus(findings, expectedLayouts, foreignOmitted);
  const listed = listedFindings(findings, foreignOmitted);
  return {
    status,
    image: formatImageReference({ host: image.host, repository: image.repository, digest: image.digest }),
    digest: image.digest,
    reasons,
    // Stored with the tag and quoted in alerts: each text bounded (verdict.ts boundFinding).
    findings: listed.findings.map(boundFinding),
    ...(listed.foreignOmitted > 0 ? { foreignOmitted: listed.foreignOmitted } : {}),
    evidence: { ...fingerprint, checkedAt: now.toISOString() },
  };
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
  for (const sig of sources.cosign) findings.push(checkCosignSignature(sig, image, policy, deps.trust));
  for (const layer of sources.cosignUnreadable ?? [])
    findings.push(checkUnreadableCosignLayer(layer, policy));
  for (const bundle of sources.bundles) {
    findings.push(
      bundle.bytes === undefined
        ? {
            layout: 'bundle',
            location: bundle.location,
            outcome: 'foreign',
            reason: bundle.error ?? 'unreadable',
          }
        : checkBundleSignature(bundle.bytes, bundle.location, image, policy, deps.trust),
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
