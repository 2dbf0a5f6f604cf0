import { TAG_SCHEMA_VERSION, type TagRecord } from '../../functions/reverify/store.ts';
import type { VerdictStatus } from '../../functions/verify/verdict.ts';

/** A tag's verdict record as reverifyImages stores it, without findings: for tests that write the store. */
export function tagRecord(
  ref: string,
  status: VerdictStatus,
  digest: string,
  reasons: string[] = [],
): TagRecord {
  const now = new Date().toISOString();
  return {
    schemaVersion: TAG_SCHEMA_VERSION,
    ref,
    source: 'owned',
    policy: 'test',
    digest,
    status,
    reasons,
    findings: [],
    fingerprint: { signatureManifest: null, referrers: null },
    verifiedLayouts: [],
    checkedAt: now,
    changedAt: now,
    history: [],
  };
}
