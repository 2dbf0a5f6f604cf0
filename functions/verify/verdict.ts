/**
 * What the verifier concludes about one image digest. A verdict names every signature it looked at
 * (a finding), so an operator reading an alert sees which signature failed, where it lives in the
 * registry, and which log entry backs it.
 */

/**
 * valid: a signature from an expected key or identity verifies, with log inclusion, key enabled.
 * unsigned: no signature from an expected signer. missing: a signature that was there before is gone.
 * invalid: a signature that claims an expected signer does not verify (tampered, replayed, wrong log).
 * key-disabled: the only good signatures are by KMS key versions that are no longer ENABLED.
 */
export type VerdictStatus = 'valid' | 'unsigned' | 'invalid' | 'missing' | 'key-disabled';
export const VERDICT_STATUSES: readonly VerdictStatus[] = [
  'valid',
  'unsigned',
  'invalid',
  'missing',
  'key-disabled',
];

/** cosign's `.sig` tag layout, or a Sigstore bundle attached as an OCI referrer. */
export type SignatureLayout = 'cosign' | 'bundle';

/** One transparency-log entry backing a signature, as much as is needed to re-check it later. */
export interface LogEvidence {
  /** Hex SHA-256 of the log's key (Rekor v1 log ID). */
  logId: string;
  logIndex: number;
  integratedTime: number;
  kind: string;
  /** Hex SHA-256 of the canonicalized entry body: the entry found at `logIndex` must still be this one. */
  bodyHash: string;
  /** What proved inclusion when the signature was verified. */
  inclusion: Array<'signed-entry-timestamp' | 'inclusion-proof'>;
  /** Tree size of the newest checkpoint inclusion was proven against, when re-checked online. */
  provenAtTreeSize?: number;
  /** Hex root hash of that tree: the next re-check proves the log still extends it. */
  provenAtRoot?: string;
  /** Checkpoint origin of that tree: a sharded log's trees differ by it (absent in older records). */
  provenAtOrigin?: string;
}

/**
 * valid / invalid / key-disabled as for the verdict; foreign: made by a signer the policy does not
 * name (another key, another identity, an attestation that is not a signature), and so ignored.
 */
export type FindingOutcome = 'valid' | 'invalid' | 'key-disabled' | 'foreign';

export interface SignatureFinding {
  layout: SignatureLayout;
  /** The `.sig` layer digest or the referrer manifest digest. */
  location: string;
  outcome: FindingOutcome;
  reason?: string;
  /** The expected key (KMS key version or `pem:<hint>`) or the certificate identity that signed. */
  signer?: string;
  issuer?: string;
  keyVersion?: string;
  keyState?: string;
  log?: LogEvidence[];
  /**
   * Made invalid by reverifyImages' log inclusion re-check alone, its signature verified: the next
   * pass re-checks it like a valid one. A mark of its own, not the reason's wording, which for other
   * findings comes from parsers of what others wrote.
   */
  inclusionRecheckFailed?: true;
}

export interface Verdict {
  status: VerdictStatus;
  /** HOST/REPO@sha256:… */
  image: string;
  digest: string;
  reasons: string[];
  findings: SignatureFinding[];
  evidence: {
    /** Digest of the `.sig` manifest, or null when there is none. */
    signatureManifest: string | null;
    /** Digest of the referrers index (tag schema) or `api:<hash>` of the referrers listing; null: none. */
    referrers: string | null;
    checkedAt: string;
  };
}

/**
 * The verdict that follows from the findings. A broken signature that claims to be ours outranks
 * a good one: someone with push access tampered, and that must be seen even if another copy verifies.
 */
export function decideStatus(
  findings: readonly SignatureFinding[],
  expectedLayouts: readonly SignatureLayout[] = [],
): { status: VerdictStatus; reasons: string[] } {
  const ours = findings.filter((f) => f.outcome !== 'foreign');
  const invalid = ours.filter((f) => f.outcome === 'invalid');
  if (invalid.length > 0) {
    return {
      status: 'invalid',
      reasons: invalid.map((f) => `${f.layout} signature ${f.location}: ${f.reason}`),
    };
  }
  const gone = expectedLayouts.filter((layout) => !ours.some((f) => f.layout === layout));
  if (gone.length > 0) {
    return {
      status: 'missing',
      reasons: gone.map((layout) => `the ${layout} signature verified before is gone`),
    };
  }
  const valid = ours.filter((f) => f.outcome === 'valid');
  if (valid.length > 0) {
    return {
      status: 'valid',
      reasons: valid.map((f) => `${f.layout} signature by ${f.signer} verifies`),
    };
  }
  const disabled = ours.filter((f) => f.outcome === 'key-disabled');
  if (disabled.length > 0) {
    return {
      status: 'key-disabled',
      reasons: disabled.map(
        (f) => `${f.layout} signature by ${f.keyVersion} whose key version is ${f.keyState}`,
      ),
    };
  }
  const foreign = findings.filter((f) => f.outcome === 'foreign');
  return {
    status: 'unsigned',
    reasons: [
      foreign.length === 0
        ? 'no signature in either layout'
        : `no signature by an expected key or identity (${foreign.map((f) => f.reason).join('; ')})`,
    ],
  };
}
