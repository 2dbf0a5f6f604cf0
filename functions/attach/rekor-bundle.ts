/**
 * The `dev.sigstore.cosign/bundle` annotation of cosign's legacy layout (SIGNATURE_SPEC.md, "bundle"):
 * a Rekor v1 signed entry timestamp and the fields it signs, enough to verify the log inclusion offline.
 *
 *   {"SignedEntryTimestamp":"<base64>","Payload":{"body":"<base64 entry>","integratedTime":N,"logIndex":N,"logID":"<hex>"}}
 */
import { z } from 'zod';
import { goStruct, parseGoJson } from '../registry/go-json.ts';

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64');

// Read as cosign's Go decoder reads it (pkg/cosign/bundle): keys matched case-insensitively, a key
// spelled two ways refused, and (parseRekorBundle) a key twice in one object refused.
export const rekorBundleSchema = goStruct(
  ['SignedEntryTimestamp', 'Payload'],
  z.object({
    SignedEntryTimestamp: base64.min(1),
    Payload: goStruct(
      ['body', 'integratedTime', 'logIndex', 'logID'],
      z.object({
        body: base64.min(1),
        integratedTime: z.number().int().nonnegative(),
        logIndex: z.number().int().nonnegative(),
        logID: z.string().regex(/^[a-f0-9]{64}$/, 'logID must be the hex sha256 of the log key'),
      }),
    ),
  }),
);
export type RekorBundle = z.infer<typeof rekorBundleSchema>;

/** Serialised in cosign's field order, so the annotation reads the same as one cosign wrote. */
export function serializeRekorBundle(bundle: RekorBundle): string {
  const valid = rekorBundleSchema.parse(bundle);
  return JSON.stringify({
    SignedEntryTimestamp: valid.SignedEntryTimestamp,
    Payload: {
      body: valid.Payload.body,
      integratedTime: valid.Payload.integratedTime,
      logIndex: valid.Payload.logIndex,
      logID: valid.Payload.logID,
    },
  });
}

/** The annotation as cosign reads it, or undefined when it is not one or Go could read it otherwise. */
export function parseRekorBundle(annotation: string): RekorBundle | undefined {
  try {
    const parsed = rekorBundleSchema.safeParse(parseGoJson(annotation));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
