/**
 * A Sigstore bundle (v0.3) attached as an OCI 1.1 referrer of the image, as cosign 3 writes it
 * (cosign pkg/oci/remote WriteAttestationNewBundleFormat): an image manifest with
 * `artifactType: application/vnd.dev.sigstore.bundle.v0.3+json`, the empty `{}` config, one layer holding
 * the bundle JSON, `subject` = the image's descriptor, and the annotations `org.opencontainers.image.created`,
 * `dev.sigstore.bundle.content` and (for in-toto statements) `dev.sigstore.bundle.predicateType`.
 *
 * On registries without the referrers API (docker-registry 2.8), the referrers tag schema applies: an OCI
 * index tagged `sha256-<hex>` lists the referrers, maintained here by read-modify-write under the subject lock.
 * The tag is an ordinary one: what it holds is rewritten only if it is a referrers index listing nothing that
 * could run (foreign-tag.ts); a user's image or multi-arch index there is left alone and the attach refused.
 */
import { z } from 'zod';
import { InvalidInputError, PolicyViolationError } from '../errors.ts';
import { artifactTypeUnsaid } from '../registry/client.ts';
import { digestTag, sha256Digest } from '../registry/digest.ts';
import { RegistryIntegrityError, RegistryNotFoundError, RegistryRejectedError } from '../registry/errors.ts';
import {
  type Descriptor,
  type ImageIndex,
  imageIndexSchema,
  imageManifestSchema,
  type ParseManifestOptions,
  parseManifestBytes,
  toDescriptor,
} from '../registry/manifest.ts';
import { OCI_EMPTY, OCI_INDEX, OCI_MANIFEST } from '../registry/media-types.ts';
import { type DigestReference, formatImageReference } from '../registry/reference.ts';
import type { Registry } from '../registry/registry.ts';
import { LISTED_CHECK_LIMIT, signatureArtifactKind } from '../sign-on-push/signature-artifacts.ts';
import type { AttachDeps } from './cosign-layout.ts';
import { ForeignTagContentError, runnableListedManifest } from './foreign-tag.ts';
import { writeUntilPresent } from './write-until-present.ts';

export const SIGSTORE_BUNDLE_V03 = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const ANNOTATION_CREATED = 'org.opencontainers.image.created';
export const ANNOTATION_BUNDLE_CONTENT = 'dev.sigstore.bundle.content';
export const ANNOTATION_PREDICATE_TYPE = 'dev.sigstore.bundle.predicateType';
const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
const EMPTY_JSON = Buffer.from('{}');
const MAX_BUNDLE_BYTES = 4 * 1024 * 1024;
/** How many existing bundle referrers are opened when looking for an identical one. */
const MAX_CANDIDATES = 64;
/**
 * Listed referrers that may be bundles without saying so (registry/client.ts artifactTypeUnsaid: no
 * artifactType, or the config media type under which go-containerregistry's fallback index, and so
 * cosign 3, lists cosign's bundle referrers): at most MAX_UNTYPED_REFERRERS are read, each only if its
 * descriptor claims at most MAX_UNTYPED_REFERRER_BYTES (a bundle referrer manifest is under 1 KiB) and
 * its manifest is no larger, so a hostile index cannot make a reader fetch manifests without end.
 */
export const MAX_UNTYPED_REFERRERS = 16;
export const MAX_UNTYPED_REFERRER_BYTES = 64 * 1024;

export type ReferrersSource = 'referrers-api' | 'tag-schema';

export interface AttachReferrerOptions {
  /**
   * The `org.opencontainers.image.created` value. Pass the time stored with the bundle so a retried attach
   * produces the same manifest digest; defaults to now (RFC 3339, seconds, as cosign writes it).
   */
  readonly created?: Date;
}

export interface AttachReferrerResult {
  readonly manifest: Descriptor;
  readonly via: ReferrersSource;
  /** The `sha256-<hex>` index tag, when the tag schema was used. */
  readonly fallbackTag?: string;
  /** False when an identical bundle was already attached. */
  readonly attached: boolean;
}

export async function attachBundleReferrer(
  deps: AttachDeps,
  image: DigestReference,
  bundleBytes: Uint8Array,
  options: AttachReferrerOptions = {},
): Promise<AttachReferrerResult> {
  const subjectRef = formatImageReference({
    host: image.host,
    repository: image.repository,
    digest: image.digest,
  });
  const details = { reference: subjectRef, digest: image.digest };
  const contentAnnotations = bundleAnnotations(bundleBytes, image.digest, details);
  const subject = await deps.registry.resolve({
    host: image.host,
    repository: image.repository,
    digest: image.digest,
  });
  const bundleBlob = await deps.registry.putBlob(image, bundleBytes, SIGSTORE_BUNDLE_V03);
  const config = await deps.registry.putBlob(image, EMPTY_JSON, OCI_EMPTY);
  const annotations = {
    [ANNOTATION_CREATED]: rfc3339Seconds(options.created ?? new Date()),
    ...contentAnnotations,
  };
  const manifestBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: SIGSTORE_BUNDLE_V03,
      config: toDescriptor(config),
      layers: [toDescriptor({ ...bundleBlob, mediaType: SIGSTORE_BUNDLE_V03 })],
      subject: toDescriptor(subject),
      annotations,
    }),
  );

  // What the fallback index lists, judged runnable or not, across this attach's reads of it.
  const judged = new Map<string, boolean>();
  return await deps.lock.lock(subjectRef, async (hold) => {
    // The fallback index is read as it will be rewritten: one Go readers see otherwise, that would
    // not be written back unchanged, or that is no referrers index (foreign content under the tag)
    // fails the attach here, before the referrer manifest is pushed.
    const listed = await listBundleReferrers(deps.registry, image, SIGSTORE_BUNDLE_V03, {
      rewrite: true,
      judged,
    });
    const existing = await findReferrerWithLayer(deps.registry, image, listed.descriptors, bundleBlob.digest);
    if (existing !== undefined) {
      return { manifest: existing, via: listed.via, attached: false, ...fallbackTagOf(listed.via, image) };
    }
    const put = await deps.registry.putManifest(
      image,
      sha256Digest(manifestBytes),
      manifestBytes,
      OCI_MANIFEST,
    );
    const descriptor = toDescriptor({ ...put.descriptor, artifactType: SIGSTORE_BUNDLE_V03, annotations });
    judged.set(descriptor.digest, false); // a bundle referrer: nothing in it runs
    // The registry indexes the referrer itself only if it says so (OCI-Subject) and serves the API:
    // some registries echo the header without implementing the API.
    if (put.subjectDigest === image.digest && listed.via === 'referrers-api') {
      return { manifest: descriptor, via: 'referrers-api', attached: true };
    }
    const tag = digestTag(image.digest);
    await writeUntilPresent<ImageIndex>(
      {
        read: () => readFallbackIndex(deps.registry, image, undefined, { rewrite: true, judged }),
        contains: (index) => index?.manifests.some((m) => m.digest === descriptor.digest) ?? false,
        write: async (index) => {
          const put = async (manifests: Descriptor[]) => {
            hold.check(); // the index is replaced whole: not beside another holder
            return await deps.registry.putManifest(
              image,
              tag,
              Buffer.from(JSON.stringify({ ...index, schemaVersion: 2, mediaType: OCI_INDEX, manifests })),
              OCI_INDEX,
            );
          };
          const manifests = [...(index?.manifests ?? []), descriptor];
          try {
            await put(manifests);
          } catch (err) {
            // A registry that checks an index's entries (docker-registry: MANIFEST_BLOB_UNKNOWN)
            // refuses one that still lists a referrer someone deleted without updating the index:
            // such entries go, and only they.
            if (!listsUnknownManifest(err)) throw err;
            const present = await presentOnly(deps.registry, image, manifests);
            if (present.length === manifests.length) throw err;
            deps.logger?.warn('dropped referrers the registry no longer has from the fallback index', {
              ...details,
              tag,
              dropped: manifests.filter((m) => !present.includes(m)).map((m) => m.digest),
            });
            await put(present);
          }
        },
      },
      {
        details: { ...details, tag },
        ...(deps.attempts === undefined ? {} : { attempts: deps.attempts }),
        onConflict: (attempt) =>
          deps.logger?.warn('referrers index was overwritten by a concurrent writer; merging again', {
            ...details,
            tag,
            attempt,
          }),
      },
    );
    return { manifest: descriptor, via: 'tag-schema', fallbackTag: tag, attached: true };
  });
}

/** Referrers of `image` with the given artifactType, from the referrers API or else the tag-schema index. */
export async function listBundleReferrers(
  registry: Registry,
  image: DigestReference,
  artifactType: string = SIGSTORE_BUNDLE_V03,
  /** `rewrite`: the fallback index is read to be rewritten (readFallbackIndex). */
  options: FallbackIndexOptions = {},
): Promise<{ via: ReferrersSource; descriptors: Descriptor[] }> {
  const viaApi = await registry.referrers(image, image.digest, { artifactType });
  // A registry that ignores the filter also lists referrers of unsaid type (registry/client.ts):
  // those are verify's to read (selectReferrers), not attach's to look through.
  if (viaApi !== undefined) {
    return { via: 'referrers-api', descriptors: viaApi.filter((m) => m.artifactType === artifactType) };
  }
  const index = await readFallbackIndex(registry, image, undefined, options);
  return {
    via: 'tag-schema',
    descriptors: (index?.manifests ?? []).filter((m) => m.artifactType === artifactType),
  };
}

/** Listed referrers sorted for reading: those of `artifactType`, and the bounded few that may be. */
export interface SelectedReferrers {
  /** Descriptors that say they are of the artifactType. */
  descriptors: Descriptor[];
  /**
   * Descriptors that may be (artifactTypeUnsaid), OCI image manifests of at most
   * MAX_UNTYPED_REFERRER_BYTES, each digest once, at most MAX_UNTYPED_REFERRERS: their manifests say
   * (readUntypedBundleReferrer).
   */
  untyped: Descriptor[];
  /** Untyped image manifests left unread: past the count bound, or claiming more bytes than allowed. */
  untypedSkipped: number;
}

export function selectReferrers(
  listed: readonly Descriptor[],
  artifactType: string = SIGSTORE_BUNDLE_V03,
): SelectedReferrers {
  const descriptors = listed.filter((m) => m.artifactType === artifactType);
  const untyped: Descriptor[] = [];
  const seen = new Set(descriptors.map((d) => d.digest));
  let untypedSkipped = 0;
  for (const d of listed) {
    // Only an OCI image manifest can be a bundle referrer: an index listed here is none.
    if (d.artifactType === artifactType || !artifactTypeUnsaid(d) || d.mediaType !== OCI_MANIFEST) continue;
    if (seen.has(d.digest)) continue;
    seen.add(d.digest);
    const readable =
      Number.isSafeInteger(d.size) &&
      d.size <= MAX_UNTYPED_REFERRER_BYTES &&
      untyped.length < MAX_UNTYPED_REFERRERS;
    if (readable) untyped.push(d);
    else untypedSkipped++;
  }
  return { descriptors, untyped, untypedSkipped };
}

/**
 * The bundle referrers listed in the referrers tag schema's index of digest `indexDigest` (the tag
 * resolved by the caller): read by digest, so a tag moved since it was resolved is not read instead.
 * An index no longer there is a RegistryNotFoundError. Besides the entries of `artifactType`, those that
 * may be (selectReferrers: as go-containerregistry, and so cosign 3, lists them) are returned apart.
 */
export async function listFallbackIndexReferrers(
  registry: Registry,
  image: DigestReference,
  indexDigest: string,
  artifactType: string = SIGSTORE_BUNDLE_V03,
): Promise<{ via: ReferrersSource } & SelectedReferrers> {
  const index = await readFallbackIndex(registry, image, indexDigest);
  return { via: 'tag-schema', ...selectReferrers(index?.manifests ?? [], artifactType) };
}

/**
 * The bundle a referrer descriptor points at. The fallback index is an ordinary tag anyone with push access
 * can write, so the manifest is checked to really have `image` as its subject and to be a bundle.
 */
export async function readBundleReferrer(
  registry: Registry,
  image: DigestReference,
  referrer: Descriptor,
): Promise<BundleReferrer> {
  const details = referrerDetails(image, referrer);
  const fetched = await registry.getManifest(image, referrer.digest);
  const manifest = parseManifestBytes(imageManifestSchema, fetched.bytes, details);
  if (manifest.subject?.digest !== image.digest) {
    throw new RegistryIntegrityError('referrer does not name the image as its subject', {
      ...details,
      subject: manifest.subject?.digest,
    });
  }
  if (!isBundleManifest(manifest)) {
    throw new RegistryIntegrityError('referrer is not a Sigstore bundle v0.3', details);
  }
  return await bundleOf(registry, image, fetched.descriptor, manifest);
}

export interface BundleReferrer {
  manifest: Descriptor;
  annotations: Record<string, string>;
  bundle: Uint8Array;
}

/**
 * A referrer listed without saying what it is (selectReferrers' `untyped`), read as cosign 3 reads
 * every referrer: undefined unless its manifest is a Sigstore bundle v0.3 referrer (its artifactType
 * and its layer's media type, as readBundleReferrer requires), so other artifacts, manifests that are
 * gone, unreadable or past MAX_UNTYPED_REFERRER_BYTES (read no further, whatever the listing says of
 * their size), are passed over without a finding. One that
 * is a bundle is checked as readBundleReferrer checks it (its subject: RegistryIntegrityError).
 */
export async function readUntypedBundleReferrer(
  registry: Registry,
  image: DigestReference,
  referrer: Descriptor,
): Promise<BundleReferrer | undefined> {
  const details = referrerDetails(image, referrer);
  let fetched: Awaited<ReturnType<Registry['getManifest']>>;
  let manifest: ReturnType<typeof parseImageManifest>;
  try {
    // Read no further than the bound: a listing may understate a manifest's size.
    fetched = await registry.getManifest(image, referrer.digest, { maxBytes: MAX_UNTYPED_REFERRER_BYTES });
    manifest = parseImageManifest(fetched.bytes, details);
  } catch (err) {
    if (err instanceof RegistryNotFoundError || err instanceof RegistryIntegrityError) return undefined;
    throw err;
  }
  if (!isBundleManifest(manifest)) return undefined;
  if (manifest.subject?.digest !== image.digest) {
    throw new RegistryIntegrityError('referrer does not name the image as its subject', {
      ...details,
      subject: manifest.subject?.digest,
    });
  }
  return await bundleOf(registry, image, fetched.descriptor, manifest);
}

const referrerDetails = (image: DigestReference, referrer: Descriptor) => ({
  reference: formatImageReference(image),
  digest: image.digest,
  referrer: referrer.digest,
});

const parseImageManifest = (bytes: Uint8Array, details: Record<string, unknown>) =>
  parseManifestBytes(imageManifestSchema, bytes, details);

/** A Sigstore bundle v0.3 referrer, by its manifest: its artifactType and its (first) layer's media type. */
function isBundleManifest(manifest: ReturnType<typeof parseImageManifest>): boolean {
  const layer = manifest.layers[0];
  return (
    manifest.artifactType === SIGSTORE_BUNDLE_V03 &&
    layer !== undefined &&
    layer.mediaType === SIGSTORE_BUNDLE_V03
  );
}

async function bundleOf(
  registry: Registry,
  image: DigestReference,
  descriptor: Descriptor,
  manifest: ReturnType<typeof parseImageManifest>,
): Promise<BundleReferrer> {
  const layer = manifest.layers[0]!;
  const bundle = await registry.getBlob(image, layer.digest, { maxBytes: MAX_BUNDLE_BYTES });
  return { manifest: descriptor, annotations: manifest.annotations ?? {}, bundle };
}

/** A listed referrer the attach cannot read because it is gone or malformed: not ours. */
const goneOrMalformed = (err: unknown) =>
  err instanceof RegistryNotFoundError || err instanceof RegistryIntegrityError;

/**
 * The first of `candidates` (at most MAX_CANDIDATES) whose manifest names `image` as subject and
 * whose first layer is `layerDigest`: a referrer the attach would find attached. One whose read
 * fails as `notIt` says (by default: gone or malformed) is not it; any other failure (the registry
 * down) is thrown.
 */
export async function findReferrerWithLayer(
  registry: Registry,
  image: DigestReference,
  candidates: Descriptor[],
  layerDigest: string,
  notIt: (err: unknown) => boolean = goneOrMalformed,
): Promise<Descriptor | undefined> {
  for (const candidate of candidates.slice(0, MAX_CANDIDATES)) {
    try {
      const fetched = await registry.getManifest(image, candidate.digest);
      const manifest = parseManifestBytes(imageManifestSchema, fetched.bytes, { referrer: candidate.digest });
      if (manifest.subject?.digest === image.digest && manifest.layers[0]?.digest === layerDigest)
        return candidate;
    } catch (err) {
      if (!notIt(err)) throw err;
    }
  }
  return undefined;
}

export interface FallbackIndexOptions extends ParseManifestOptions {
  /** With `rewrite`: the verdicts on listed manifests (runnable or not) kept across one attach's reads. */
  readonly judged?: Map<string, boolean>;
}

/**
 * The referrers tag's index, read by its tag or, when given, by the digest the tag was resolved to.
 * Read as Go readers (cosign, sigstore-go) read it: `manifests` beside `Manifests` is an
 * AmbiguousManifestError, for attaching and verifying alike; `rewrite` (attaching) also refuses an
 * index sigsentry could not write back unchanged, and anything under the tag that is not a referrers
 * index listing nothing that could run (ForeignTagContentError, assertReferrersIndex).
 */
async function readFallbackIndex(
  registry: Registry,
  image: DigestReference,
  indexDigest?: string,
  options: FallbackIndexOptions = {},
): Promise<ImageIndex | undefined> {
  const tag = digestTag(image.digest);
  let fetched: Awaited<ReturnType<Registry['getManifest']>>;
  try {
    fetched = await registry.getManifest(image, indexDigest ?? tag);
  } catch (err) {
    if (err instanceof RegistryNotFoundError && indexDigest === undefined) return undefined;
    throw err;
  }
  const details = { reference: `${image.host}/${image.repository}:${tag}`, digest: image.digest };
  const rewrite = options.rewrite === true;
  if (fetched.descriptor.mediaType !== OCI_INDEX) {
    if (rewrite) {
      throw new ForeignTagContentError(
        'bundle',
        image,
        tag,
        fetched.descriptor,
        `a manifest of type ${fetched.descriptor.mediaType}`,
      );
    }
    throw new RegistryIntegrityError('the referrers tag holds something other than an OCI index', {
      ...details,
      mediaType: fetched.descriptor.mediaType,
    });
  }
  const index = parseManifestBytes(imageIndexSchema, fetched.bytes, details, { rewrite });
  if (rewrite)
    await assertReferrersIndex(registry, image, fetched.descriptor, index, options.judged ?? new Map());
  return index;
}

/**
 * What an attach may append to under `sha256-<hex>`: a referrers fallback index as signOnPush tells
 * one from an image (signatureArtifactKind: every entry has an artifactType and no platform), and
 * none of whose entries could run (runnableListedManifest), since a runtime pulling the tag takes a
 * platformless entry as its image. An index listing nothing is taken too: there is nothing in it to
 * lose or to run. Anything else (a user's multi-arch index, one listing a runnable image, one too
 * long to check) is foreign content: ForeignTagContentError, and the tag is left as it is.
 */
async function assertReferrersIndex(
  registry: Registry,
  image: DigestReference,
  found: Descriptor,
  index: ImageIndex,
  judged: Map<string, boolean>,
): Promise<void> {
  if (index.manifests.length === 0) return;
  const tag = digestTag(image.digest);
  const refuse = (held: string) => new ForeignTagContentError('bundle', image, tag, found, held);
  if (signatureArtifactKind(index) !== 'referrers fallback index') {
    throw refuse(
      'an OCI index that is no referrers index (an entry with a platform, or without an artifactType)',
    );
  }
  if (index.manifests.length > LISTED_CHECK_LIMIT) {
    throw refuse(
      `an index listing ${index.manifests.length} manifests, more than the ${LISTED_CHECK_LIMIT} an attach checks`,
    );
  }
  const runnable = await runnableListedManifest(
    registry,
    image,
    index.manifests.map((m) => m.digest),
    judged,
  );
  if (runnable !== undefined) throw refuse(`an index listing ${runnable}, a manifest that could run`);
}

function fallbackTagOf(via: ReferrersSource, image: DigestReference): { fallbackTag?: string } {
  return via === 'tag-schema' ? { fallbackTag: digestTag(image.digest) } : {};
}

/** `org.opencontainers.image.created` as the attach writes it (RFC 3339, whole seconds). */
export function rfc3339Seconds(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/**
 * The fields of a v0.3 bundle the content annotations come from, as the protobuf JSON has them: one
 * whose fields have other shapes is refused before anything is read out of it. The rest of the
 * bundle is @sigstore/bundle's to check.
 */
const bundleContentSchema = z.object({
  mediaType: z.literal(SIGSTORE_BUNDLE_V03),
  messageSignature: z.looseObject({}).optional(),
  dsseEnvelope: z.object({ payload: z.string(), payloadType: z.string() }).optional(),
});

/**
 * The longest predicateType taken: it is copied into the referrer manifest and, on registries without
 * the referrers API, into each referrer's entry of the fallback index, which registries cap in size
 * (a predicate type is a URI: cosign's is 35 characters).
 */
export const MAX_PREDICATE_TYPE_LENGTH = 1024;

/** An in-toto statement (v0.1 and v1) as far as the annotations need it: its subjects and predicate type. */
const inTotoStatementSchema = z.object({
  subject: z.array(z.object({ digest: z.record(z.string(), z.string()) })),
  predicateType: z.string().max(MAX_PREDICATE_TYPE_LENGTH).optional(),
});

/**
 * The content annotations cosign and sigstore-js write, derived from the bundle itself. A DSSE in-toto
 * statement must name the image among its subjects: a bundle about something else is never attached here.
 * A bundle or statement of another shape is an InvalidInputError, never a TypeError (which isRetryable
 * would take for a passing failure and redeliver).
 */
function bundleAnnotations(
  bytes: Uint8Array,
  digest: string,
  details: Record<string, unknown>,
): Record<string, string> {
  if (bytes.byteLength > MAX_BUNDLE_BYTES) throw new InvalidInputError('bundle too large', details);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new InvalidInputError('bundle is not JSON', details, cause);
  }
  const parsed = bundleContentSchema.safeParse(json);
  if (!parsed.success) {
    const mediaType = (json as { mediaType?: unknown } | null)?.mediaType;
    if (mediaType !== SIGSTORE_BUNDLE_V03) {
      throw new InvalidInputError(`bundle media type is not ${SIGSTORE_BUNDLE_V03}`, {
        ...details,
        mediaType: typeof mediaType === 'string' ? mediaType.slice(0, 200) : typeof mediaType,
      });
    }
    throw new InvalidInputError('bundle does not have the shape of a Sigstore bundle v0.3', {
      ...details,
      reason: z.prettifyError(parsed.error),
    });
  }
  const bundle = parsed.data;
  if (bundle.messageSignature !== undefined) return { [ANNOTATION_BUNDLE_CONTENT]: 'message-signature' };
  const envelope = bundle.dsseEnvelope;
  if (envelope === undefined) {
    throw new InvalidInputError('bundle has neither a DSSE envelope nor a message signature', details);
  }
  const out: Record<string, string> = { [ANNOTATION_BUNDLE_CONTENT]: 'dsse-envelope' };
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) return out;
  let statement: z.infer<typeof inTotoStatementSchema>;
  try {
    statement = inTotoStatementSchema.parse(
      JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')),
    );
  } catch (cause) {
    throw new InvalidInputError('DSSE payload is not an in-toto statement', details, cause);
  }
  const hex = digest.slice('sha256:'.length);
  if (!statement.subject.some((s) => s.digest['sha256'] === hex)) {
    throw new PolicyViolationError('bundle statement does not name the image as a subject', details);
  }
  if (statement.predicateType !== undefined) out[ANNOTATION_PREDICATE_TYPE] = statement.predicateType;
  return out;
}

function listsUnknownManifest(err: unknown): boolean {
  const codes = err instanceof RegistryRejectedError ? err.details['registryErrors'] : undefined;
  return (
    Array.isArray(codes) && (codes.includes('MANIFEST_BLOB_UNKNOWN') || codes.includes('MANIFEST_UNKNOWN'))
  );
}

/** The descriptors whose manifests the registry still has (a 404 is gone; anything else is kept). */
async function presentOnly(
  registry: Registry,
  image: DigestReference,
  manifests: Descriptor[],
): Promise<Descriptor[]> {
  const gone = await Promise.all(
    manifests.map(async (m) => {
      try {
        await registry.resolve({ host: image.host, repository: image.repository, digest: m.digest });
        return false;
      } catch (err) {
        return err instanceof RegistryNotFoundError;
      }
    }),
  );
  return manifests.filter((_, i) => !gone[i]);
}
