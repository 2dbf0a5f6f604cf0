/**
 * OCI descriptors, image manifests and indexes (image-spec v1.1), validated with zod. Objects are loose:
 * a read-modify-write must keep the fields other tools wrote, including ones this module does not know.
 *
 * Read as Go's encoding/json reads them (registry/go-json.ts), which is how the registry, cosign,
 * skopeo and admission controllers read them: a key twice in one object, exactly or under Go's case
 * folding (`"layers"` beside `"Layers"`), is refused (AmbiguousManifestError), and a known field spelled
 * another way (`"Layers"` alone) is read, and written back, under its own name. JSON.parse alone would
 * see two lists where every Go reader sees one, so an entry appended to the one it sees could be
 * invisible to cosign.
 */
import { z } from 'zod';
import { describeError } from '../logging/describe.ts';
import { isDigest, sha256Digest } from './digest.ts';
import { RegistryIntegrityError } from './errors.ts';
import {
  AmbiguousFieldError,
  DuplicateKeyError,
  goFoldedName,
  type JsonTokenListener,
  parseGoJson,
} from './go-json.ts';

/** The fields of image-spec's Go structs (specs-go/v1), by their JSON names. */
const DESCRIPTOR_FIELDS = [
  'mediaType',
  'digest',
  'size',
  'urls',
  'annotations',
  'data',
  'platform',
  'artifactType',
];
const MANIFEST_FIELDS = [
  'schemaVersion',
  'mediaType',
  'artifactType',
  'config',
  'layers',
  'subject',
  'annotations',
];
const INDEX_FIELDS = ['schemaVersion', 'mediaType', 'artifactType', 'manifests', 'subject', 'annotations'];

/**
 * An object with each key Go would decode into one of the fields (`byFolded`: a field by its Go-folded
 * name) renamed to that field, every other key
 * kept as it is (a read-modify-write keeps them). Anything but a plain object is returned as it is, for
 * the schema to judge. Two keys for one field throw AmbiguousFieldError (parseManifestBytes refuses
 * them in the text before this; a value built in code can still hold them).
 */
function goSpelled(value: unknown, byFolded: ReadonlyMap<string, string>): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  const spelled = new Map<string, string>();
  for (const [key, item] of Object.entries(value)) {
    const name = byFolded.get(goFoldedName(key)) ?? key;
    const before = spelled.get(name);
    if (before !== undefined) throw new AmbiguousFieldError(name, [before, key]);
    spelled.set(name, key);
    define(out, name, item);
  }
  return out;
}

/** A schema reading an object as goSpelled does; the fields are folded once, not per object read. */
function goObject<T extends z.ZodType>(fields: readonly string[], schema: T) {
  const byFolded = new Map(fields.map((field) => [goFoldedName(field), field]));
  return z.preprocess((value) => goSpelled(value, byFolded), schema);
}

const digest = z.string().refine(isDigest, 'not a sha256 digest');
const annotations = z.record(z.string(), z.string());

export const descriptorSchema = goObject(
  DESCRIPTOR_FIELDS,
  z.looseObject({
    mediaType: z.string().min(1),
    digest,
    size: z.number().int().nonnegative(),
    artifactType: z.string().optional(),
    annotations: annotations.optional(),
  }),
);
export type Descriptor = z.infer<typeof descriptorSchema>;

export const imageManifestSchema = goObject(
  MANIFEST_FIELDS,
  z.looseObject({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(),
    artifactType: z.string().optional(),
    config: descriptorSchema,
    layers: z.array(descriptorSchema),
    subject: descriptorSchema.optional(),
    annotations: annotations.optional(),
  }),
);
export type ImageManifest = z.infer<typeof imageManifestSchema>;

export const imageIndexSchema = goObject(
  INDEX_FIELDS,
  z.looseObject({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(),
    artifactType: z.string().optional(),
    manifests: z.array(descriptorSchema),
    subject: descriptorSchema.optional(),
    annotations: annotations.optional(),
  }),
);
export type ImageIndex = z.infer<typeof imageIndexSchema>;

/**
 * A manifest or index Go readers decode otherwise than JSON.parse: a key twice in one object, exactly
 * or under Go's case folding. The registry, cosign and admission controllers decode both into one
 * field (the later list over the earlier), so sigsentry neither reads nor rewrites it.
 */
export class AmbiguousManifestError extends RegistryIntegrityError {}

/**
 * A manifest or index sigsentry would change by rewriting it (parseManifestBytes with `rewrite`): a key
 * named `__proto__` (JavaScript drops it) or a number JSON.stringify writes otherwise (an integer past
 * 2^53 is rounded). Appending to it would alter another writer's entries, so nothing is appended.
 */
export class UnkeepableManifestError extends RegistryIntegrityError {}

export interface ParseManifestOptions {
  /**
   * The document is to be rewritten with an entry added (the `.sig` manifest, the referrers fallback
   * index): refuse one whose re-serialisation would not reproduce every other entry, and return it
   * with its keys in the document's order, as a rewrite must write them.
   */
  readonly rewrite?: boolean;
}

/** Parse manifest bytes against a schema; anything malformed is an integrity failure naming `what`. */
export function parseManifestBytes<T extends z.ZodType>(
  schema: T,
  bytes: Uint8Array,
  details: Record<string, unknown>,
  options: ParseManifestOptions = {},
): z.infer<T> {
  const text = Buffer.from(bytes).toString('utf8');
  // Named by its digest in a refusal only: hashing every manifest read to name it would be work wasted.
  const refused = () => {
    const manifestDigest = sha256Digest(bytes);
    const reference = typeof details['reference'] === 'string' ? ` (${details['reference']})` : '';
    return { named: `the manifest ${manifestDigest}${reference}`, details: { ...details, manifestDigest } };
  };
  const rewrite = options.rewrite === true;
  const unkept: string[] = [];
  let json: unknown;
  try {
    // One scan of the text: the one refusing duplicate keys also finds what a rewrite would not keep.
    json = parseGoJson(text, rewrite ? unkeptTokens(unkept) : undefined);
  } catch (err) {
    if (err instanceof DuplicateKeyError) throw ambiguous(err, refused());
    // JSON.parse runs before the scan, and the scan of JSON it accepted throws nothing else.
    throw new RegistryIntegrityError('manifest is not JSON', { ...details, reason: describeError(err) });
  }
  if (unkept.length > 0) {
    const { named, details: about } = refused();
    throw new UnkeepableManifestError(
      `${named} has ${unkept.slice(0, 3).join(', ')}${unkept.length > 3 ? ' (and more)' : ''}: rewriting it would change what another writer wrote, so sigsentry will not add to it`,
      { ...about, unkept },
    );
  }
  let parsed: z.ZodSafeParseResult<z.infer<T>>;
  try {
    parsed = schema.safeParse(json);
  } catch (err) {
    if (!(err instanceof AmbiguousFieldError)) throw err;
    throw ambiguous(err, refused());
  }
  if (!parsed.success) {
    throw new RegistryIntegrityError('manifest does not have the expected shape', {
      ...details,
      reason: z.prettifyError(parsed.error),
    });
  }
  // Only a rewrite writes the keys out; a read-only result is never serialised (its readers, attach's
  // lookups and verification, take fields and digests from it), so its key order is not restored.
  return (rewrite ? inDocumentOrder(parsed.data, json) : parsed.data) as z.infer<T>;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Define, never assign: a key named `__proto__` stays a key and never becomes the prototype. */
function define(object: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * The schema's output (zod puts the fields it knows first) with every object's keys back in the order
 * the document has them, each under the name it was read as: written back, another writer's entry
 * keeps its key order (cosign writes a descriptor's `size` before its `digest`).
 */
function inDocumentOrder(value: unknown, source: unknown): unknown {
  // What the schema passed through (an unknown field's value) is the document's own, in its own order:
  // never walked, so a document nested a million deep costs no recursion here.
  if (value === source) return value;
  if (Array.isArray(value)) {
    return Array.isArray(source) ? value.map((item, i) => inDocumentOrder(item, source[i])) : value;
  }
  if (!isPlainObject(value) || !isPlainObject(source)) return value;
  const out: Record<string, unknown> = {};
  const remaining = new Set(Object.keys(value));
  for (const key of Object.keys(source)) {
    // The same key, or the field it was read as (`Layers` read as `layers`); none for one zod dropped.
    const name = remaining.has(key)
      ? key
      : [...remaining].find((k) => !Object.hasOwn(source, k) && goFoldedName(k) === goFoldedName(key));
    if (name === undefined) continue;
    remaining.delete(name);
    define(out, name, inDocumentOrder(value[name], source[key]));
  }
  for (const name of remaining) define(out, name, value[name]);
  return out;
}

function ambiguous(
  err: AmbiguousFieldError,
  { named, details }: { named: string; details: Record<string, unknown> },
): AmbiguousManifestError {
  const at = err instanceof DuplicateKeyError ? ` at ${err.path}` : '';
  const what =
    err instanceof DuplicateKeyError && err.exact
      ? `has the key ${JSON.stringify(err.field)} twice in one object${at}`
      : `spells the field ${JSON.stringify(err.field)} more than one way (${err.spelled})${at}`;
  return new AmbiguousManifestError(
    `${named} ${what}: Go readers (the registry, cosign) decode them into one field, so sigsentry will neither read nor rewrite it`,
    { ...details, field: err.field, ...(err instanceof DuplicateKeyError ? { path: err.path } : {}) },
  );
}

const MAX_UNKEPT = 10;

/**
 * A listener for parseGoJson's scan that adds to `unkept`, in document order and at most MAX_UNKEPT,
 * what JSON.stringify would not write back as the text has it, for a rewrite: a key `__proto__` (a
 * JavaScript copy drops it; Go keeps it as any key) and a number whose text is not how JSON.stringify
 * writes its value (an integer past 2^53 comes back rounded; `1.0` or `1e3` spelled otherwise).
 */
function unkeptTokens(unkept: string[]): JsonTokenListener {
  return {
    key: (key) => {
      if (key === '__proto__' && unkept.length < MAX_UNKEPT) unkept.push('a key "__proto__"');
    },
    number: (token) => {
      if (unkept.length >= MAX_UNKEPT) return;
      const written = JSON.stringify(Number(token));
      if (written !== token) {
        unkept.push(`the number ${token.slice(0, 40)} (written back as ${written.slice(0, 40)})`);
      }
    },
  };
}

/** Plain descriptor fields, for embedding in another document without dragging unknown fields along. */
export function toDescriptor(d: {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string | undefined;
  annotations?: Record<string, string> | undefined;
}): Descriptor {
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.artifactType === undefined ? {} : { artifactType: d.artifactType }),
    ...(d.annotations === undefined ? {} : { annotations: d.annotations }),
  };
}
