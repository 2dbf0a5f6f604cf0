/**
 * The Artifact Registry notification published on topic `gcr`:
 *   {"action":"INSERT"|"DELETE","digest":"HOST/PATH@sha256:<hex>","tag":"HOST/PATH:TAG"}
 * Digest-only, tag-only and digest+tag messages all occur, at least once, in no guaranteed order.
 * https://cloud.google.com/artifact-registry/docs/configure-notifications
 *
 * Those three fields are validated strictly; any other field is dropped unread (not logged, not
 * recorded), so a field Artifact Registry adds one day does not stop every push from being signed.
 * Nothing rests on its absence: the message is never trusted for what it names (signOnPush resolves
 * the digest in the registry), and no field but these three is read.
 */
import { z } from 'zod';
import { InvalidInputError } from '../errors.ts';

// HOST[:PORT]/PATH, where PATH is lower-case path components as the distribution spec allows.
const HOST = '[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]{1,5})?';
const PATH = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*';
const TAG = '[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}';

export const DIGEST_REFERENCE = new RegExp(`^(${HOST})/(${PATH})@(sha256:[a-f0-9]{64})$`);
export const TAG_REFERENCE = new RegExp(`^(${HOST})/(${PATH}):(${TAG})$`);

export const GcrMessageSchema = z
  .object({
    action: z.enum(['INSERT', 'DELETE']),
    // Registry references are short (the distribution spec caps a repository name at 255 bytes).
    digest: z
      .string()
      .max(1024, 'digest reference is too long')
      .regex(DIGEST_REFERENCE, 'digest must be HOST/REPOSITORY@sha256:<64 lower-case hex>')
      .optional(),
    tag: z
      .string()
      .max(1024, 'tag reference is too long')
      .regex(TAG_REFERENCE, 'tag must be HOST/REPOSITORY:TAG')
      .optional(),
  })
  .refine((m) => m.digest !== undefined || m.tag !== undefined, {
    message: 'message has neither digest nor tag',
  })
  .refine(sameRepository, { message: 'digest and tag name different repositories' });

/**
 * Whether a message's digest and tag name one repository. zod runs this even when a reference failed
 * its pattern above (a pattern failure does not stop the checks after it), so a reference that does not
 * match is left to that pattern's own error rather than assumed to match.
 */
function sameRepository(m: { digest?: string | undefined; tag?: string | undefined }): boolean {
  const d = m.digest === undefined ? null : DIGEST_REFERENCE.exec(m.digest);
  const t = m.tag === undefined ? null : TAG_REFERENCE.exec(m.tag);
  if (d === null || t === null) return true;
  return d[1] === t[1] && d[2] === t[2];
}

export type GcrMessage = z.infer<typeof GcrMessageSchema>;

/** A `gcr` message with its references split into parts. */
export interface GcrNotification {
  action: 'INSERT' | 'DELETE';
  host: string;
  repository: string;
  digest?: string;
  tag?: string;
  /** The message as received, for logs and records. */
  raw: GcrMessage;
}

export function toNotification(message: GcrMessage): GcrNotification {
  const d = message.digest ? DIGEST_REFERENCE.exec(message.digest) : null;
  const t = message.tag ? TAG_REFERENCE.exec(message.tag) : null;
  const parts = (d ?? t)!;
  return {
    action: message.action,
    host: parts[1]!,
    repository: parts[2]!,
    ...(d ? { digest: d[3]! } : {}),
    ...(t ? { tag: t[3]! } : {}),
    raw: message,
  };
}

/** Parses the decoded message bytes. Throws InvalidInputError, which is never worth a retry. */
export function parseGcrMessage(bytes: Buffer, messageId?: string): GcrNotification {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new InvalidInputError('gcr message is not JSON', { messageId, bytes: bytes.length }, err);
  }
  let result: ReturnType<typeof GcrMessageSchema.safeParse>;
  try {
    result = GcrMessageSchema.safeParse(json);
  } catch (err) {
    // zod runs a length check on any value with a `length`, even one that failed the string check:
    // `{"digest":{"length":[{"toString":null}]}}` makes it throw a TypeError rather than report.
    throw new InvalidInputError('gcr message has the wrong shape', { messageId }, err);
  }
  if (!result.success) {
    throw new InvalidInputError(`gcr message has the wrong shape: ${z.prettifyError(result.error)}`, {
      messageId,
      issues: result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  }
  return toNotification(result.data);
}
