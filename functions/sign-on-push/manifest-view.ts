/**
 * The fields of a pushed manifest signOnPush relies on (is it one of our signature artifacts, which
 * platform manifests an index lists), read as the registry reads them: Go's encoding/json, keys
 * matched case-insensitively (registry/go-json.ts). JSON.parse alone can see another document:
 * `"manifests"` next to `"Manifests"` is one list to the registry, which validates it, and a second,
 * unvalidated list to JSON.parse; `"manifests"` twice is the second list decoded INTO the first to the
 * registry (a `platform` only the first gives survives), and the second alone to JSON.parse. A key
 * twice in one object (exactly or folded, at any depth) or a field spelled more than one way is
 * refused, never guessed at.
 */
import { z } from 'zod';
import { PolicyViolationError } from '../errors.ts';
import { isDigest } from '../registry/digest.ts';
import { AmbiguousFieldError, asGoStruct, DuplicateKeyError, parseGoJson } from '../registry/go-json.ts';

/** Manifest and index fields read, by the names of the registry's Go struct fields. */
const MANIFEST_FIELDS = ['mediaType', 'artifactType', 'config', 'layers', 'manifests', 'subject'];
/** Descriptor fields read (image-spec descriptor.md), likewise. */
const DESCRIPTOR_FIELDS = ['mediaType', 'digest', 'size', 'artifactType', 'platform'];

/** A manifest's fields as the registry reads them, under their exact names; lists' descriptors too. */
export interface ManifestView {
  readonly mediaType?: unknown;
  readonly artifactType?: unknown;
  readonly config?: unknown;
  readonly layers?: unknown;
  readonly manifests?: unknown;
  readonly subject?: unknown;
}

/**
 * A manifest signOnPush will not read: not JSON, a key twice in one object, or a field spelled more
 * than one way. `reason` completes "the manifest …".
 */
export class UnreadableManifestError extends PolicyViolationError {
  readonly reason: string;

  constructor(image: string, digest: string, reason: string, details: Record<string, unknown> = {}) {
    super(`refusing to sign: the manifest of ${image} ${reason}`, { image, digest, ...details });
    this.reason = reason;
  }
}

/** An index listing a platform manifest that is not named by a sha256 digest. */
export class InvalidIndexError extends PolicyViolationError {
  readonly reason: string;

  constructor(image: string, digest: string, reason: string) {
    super(`refusing to sign the index ${image}: ${reason}`, { image, digest, reason });
    this.reason = reason;
  }
}

/** Each descriptor of a list as Go reads it; anything but a list is left for the reader to judge. */
function descriptorsOf(list: unknown): unknown {
  return Array.isArray(list) ? list.map((d) => asGoStruct(d, DESCRIPTOR_FIELDS)) : list;
}

/**
 * A parsed manifest as the registry reads it (a view reads as itself). Anything but an object has no
 * fields. Throws AmbiguousFieldError when a field is spelled more than one way.
 */
export function goManifestView(json: unknown): ManifestView {
  const struct = asGoStruct(json, MANIFEST_FIELDS);
  if (typeof struct !== 'object' || struct === null || Array.isArray(struct)) return {};
  const view: Record<string, unknown> = { ...struct };
  for (const list of ['layers', 'manifests'] as const) {
    if (list in view) view[list] = descriptorsOf(view[list]);
  }
  return view;
}

/** The manifest bytes `image` (HOST/REPO@digest) names, read as the registry reads them. */
export function readManifestView(bytes: Uint8Array, image: string, digest: string): ManifestView {
  try {
    return goManifestView(parseGoJson(Buffer.from(bytes).toString('utf8')));
  } catch (err) {
    // The registry verified the bytes against the digest; they are what was pushed, and not JSON.
    if (err instanceof SyntaxError) throw new UnreadableManifestError(image, digest, 'is not JSON');
    if (!(err instanceof AmbiguousFieldError)) throw err;
    const at = err instanceof DuplicateKeyError ? ` at ${err.path}` : '';
    const field = JSON.stringify(err.field);
    const reason =
      err instanceof DuplicateKeyError && err.exact
        ? `has the key ${field} twice in one object${at}: the registry decodes the second value into the first, and sigsentry will not guess`
        : `spells the field ${field} more than one way (${err.spelled})${at}: the registry decodes each into the one field, and sigsentry will not guess`;
    throw new UnreadableManifestError(image, digest, reason, err.details);
  }
}

const indexChildrenSchema = z
  .array(
    z.object({
      digest: z.string().refine(isDigest, 'digest must be sha256:<64 lower-case hex>'),
      mediaType: z.string().optional(),
    }),
  )
  .nullish(); // Go reads a missing or null list as an empty one

/** The first of a schema's complaints, with where it is: a list of ten thousand bad entries is one line. */
function firstIssue(error: z.ZodError): string {
  const [issue] = error.issues;
  const where = ['manifests', ...(issue?.path ?? [])].map((p) =>
    typeof p === 'number' ? `[${p}]` : `.${String(p)}`,
  );
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more)` : '';
  return `${where.join('').slice(1)}: ${issue?.message ?? 'invalid'}${more}`;
}

/**
 * The digests of the manifests an index lists, in order, each validated, so a child is only ever
 * fetched by digest (never by a tag such as "latest"); an index listing anything else is refused.
 */
export function indexChildDigests(view: ManifestView, image: string, digest: string): string[] {
  const parsed = indexChildrenSchema.safeParse(view.manifests);
  if (!parsed.success) throw new InvalidIndexError(image, digest, firstIssue(parsed.error));
  return (parsed.data ?? []).map((child) => child.digest);
}
