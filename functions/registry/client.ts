/**
 * OCI distribution-spec v1.1 client over RegistryHttp. Everything read is verified against its digest;
 * errors name the reference or digest they concern; 5xx, 429, 408, auth and network failures are
 * retryable DependencyErrors, 404 is a RegistryNotFoundError.
 */
import { z } from 'zod';
import { DependencyError, InvalidInputError, urlForLog } from '../errors.ts';
import { describeError } from '../logging/describe.ts';
import { assertDigest, isDigest, sha256Digest } from './digest.ts';
import { RegistryIntegrityError, RegistryNotFoundError, RegistryRejectedError } from './errors.ts';
import { asGoStruct, parseGoJson } from './go-json.ts';
import {
  type HttpResponse,
  RegistryHttp,
  type RegistryHttpOptions,
  registryBaseUrl,
  registryOrigin,
} from './http.ts';
import { type Descriptor, imageIndexSchema, parseManifestBytes } from './manifest.ts';
import { MANIFEST_MEDIA_TYPES, OCI_EMPTY, OCI_INDEX, OCTET_STREAM } from './media-types.ts';
import {
  apiReference,
  formatImageReference,
  formatRepository,
  type ImageReference,
  isHost,
  isRepository,
  isTag,
  type RepositoryRef,
} from './reference.ts';
import type {
  FetchedManifest,
  ListOptions,
  PutManifestResult,
  Registry,
  RequestOptions,
} from './registry.ts';

/** distribution-spec: registries SHOULD accept manifests of at least 4 MiB; sigsentry reads no larger. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_BLOB_BYTES = 16 * 1024 * 1024;
/** Bounds on listing responses: one page, and the whole walk. */
const MAX_LIST_PAGE_BYTES = 8 * 1024 * 1024;
const MAX_PAGES = 10_000;
const DEFAULT_LIST_LIMIT = 100_000;
/** Room for DEFAULT_LIST_LIMIT names of the longest kind (repository names, up to 255 characters). */
const MAX_LIST_BYTES = 32 * 1024 * 1024;
/** An image has a handful of referrers (signatures, attestations); these bounds leave ample room. */
const MAX_REFERRERS = 10_000;
const MAX_REFERRERS_BYTES = 16 * 1024 * 1024;
const ERROR_BODY_BYTES = 64 * 1024;

export type RegistryClientOptions = RegistryHttpOptions;

/**
 * Whether a listed referrer's descriptor leaves its artifactType open: it names none, or only a config
 * media type, as go-containerregistry's referrers fallback index lists a referrer (`ArtifactType:
 * mf.Config.MediaType`: `application/vnd.oci.empty.v1+json` for cosign 3's bundle referrers). Only its
 * manifest says what it is; cosign 3 reads every referrer's (pkg/cosign/verify.go GetBundles).
 */
export function artifactTypeUnsaid(descriptor: Descriptor): boolean {
  const type = descriptor.artifactType;
  return type === undefined || type === '' || type === OCI_EMPTY;
}

/**
 * A URL the registry handed over (a pagination `Link`, an upload `Location`) that leaves its origin or
 * listing: refused, so no request carries one registry's credentials to a URL another registry chose.
 */
export class ForeignTargetError extends RegistryIntegrityError {}

/** Blob uploads in flight in this process, by HOST/REPO@digest (see putBlob). */
const UPLOADS = new Map<string, Promise<void>>();

const tagListSchema = z.object({
  name: z.string().optional(),
  tags: z.array(z.string()).nullable().optional(),
});
const catalogSchema = z.object({ repositories: z.array(z.string()).nullable().optional() });

/** One paginated listing (tags, catalog, referrers): what to ask for, its bounds, how to read a page. */
interface Listing<T> {
  /** What the request is, in error messages. */
  readonly what: string;
  readonly accept: string;
  readonly maxPageBytes: number;
  /** Bounds on the whole walk: entries kept, and bytes read (bodies and page URLs). */
  readonly maxEntries: number;
  readonly maxBytes: number;
  /** Whether a 404 for the first page means the registry lacks the API (the walk yields undefined). */
  readonly absentOn404: boolean;
  /** What the request concerns (digest, repository), copied into every error. */
  readonly details: Record<string, unknown>;
  readonly signal: AbortSignal | undefined;
  entries(res: HttpResponse): readonly T[];
}

export class RegistryClient implements Registry {
  readonly #http: RegistryHttp;

  constructor(options: RegistryClientOptions) {
    this.#http = new RegistryHttp(options);
  }

  async resolve(ref: ImageReference, options: RequestOptions = {}): Promise<Descriptor> {
    const reference = apiReference(ref);
    const details = { reference: formatImageReference(ref) };
    const res = await this.#call(ref, 'HEAD', `manifests/${reference}`, {
      details,
      accept: true,
      signal: options.signal,
      maxBytes: 0,
    });
    this.#expect(res, [200], 'resolve manifest', details);
    const headerDigest = res.headers.get('docker-content-digest');
    const mediaType = contentType(res);
    const size = Number(res.headers.get('content-length') ?? Number.NaN);
    // HEAD is cheap but its headers are optional; without them, or when they cannot describe a
    // manifest (no manifest media type, fewer bytes than "{}"), GET and hash the manifest instead.
    if (
      headerDigest === null ||
      !isDigest(headerDigest) ||
      mediaType === undefined ||
      !MANIFEST_MEDIA_TYPES.includes(mediaType) ||
      !Number.isSafeInteger(size) ||
      size < 2
    ) {
      return (await this.getManifest(ref, reference, options)).descriptor;
    }
    if (ref.digest !== undefined && headerDigest !== ref.digest) {
      throw new RegistryIntegrityError('registry answered for a different digest', {
        ...details,
        digest: ref.digest,
        served: headerDigest,
      });
    }
    return { mediaType, digest: headerDigest, size };
  }

  async getManifest(
    repo: RepositoryRef,
    reference: string,
    options: RequestOptions & { readonly maxBytes?: number } = {},
  ): Promise<FetchedManifest> {
    const details = { reference: referenceString(repo, reference) };
    const res = await this.#call(repo, 'GET', `manifests/${checkReference(reference, details)}`, {
      details,
      accept: true,
      signal: options.signal,
      maxBytes: Math.min(options.maxBytes ?? MAX_MANIFEST_BYTES, MAX_MANIFEST_BYTES),
    });
    this.#expect(res, [200], 'get manifest', details);
    const digest = sha256Digest(res.body);
    const expected = isDigest(reference) ? reference : res.headers.get('docker-content-digest');
    if (expected !== null && isDigest(expected) && expected !== digest) {
      throw new RegistryIntegrityError('manifest bytes do not hash to their digest', {
        ...details,
        digest: expected,
        computed: digest,
      });
    }
    const mediaType = contentType(res) ?? embeddedMediaType(res.body);
    if (mediaType === undefined) {
      throw new RegistryIntegrityError('manifest has no media type', { ...details, digest });
    }
    // Only what was asked for (the Accept list) is a manifest: an HTML error page is not.
    if (!MANIFEST_MEDIA_TYPES.includes(mediaType)) {
      throw new RegistryIntegrityError(
        `manifest served as ${mediaType.slice(0, 100)}, not a manifest media type`,
        {
          ...details,
          digest,
        },
      );
    }
    return { descriptor: { mediaType, digest, size: res.body.byteLength }, bytes: res.body };
  }

  async putManifest(
    repo: RepositoryRef,
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
    options: RequestOptions = {},
  ): Promise<PutManifestResult> {
    const digest = sha256Digest(bytes);
    const details = { reference: referenceString(repo, reference), digest };
    if (isDigest(reference) && reference !== digest) {
      throw new InvalidInputError('manifest pushed under a digest that is not its own', details);
    }
    const res = await this.#call(repo, 'PUT', `manifests/${checkReference(reference, details)}`, {
      details,
      signal: options.signal,
      body: bytes,
      contentType: mediaType,
      maxBytes: ERROR_BODY_BYTES,
    });
    this.#expect(res, [201], 'put manifest', details);
    const served = res.headers.get('docker-content-digest');
    if (served !== null && isDigest(served) && served !== digest) {
      throw new RegistryIntegrityError('registry stored the manifest under another digest', {
        ...details,
        served,
      });
    }
    const subject = res.headers.get('oci-subject');
    return {
      descriptor: { mediaType, digest, size: bytes.byteLength },
      ...(subject !== null && isDigest(subject) ? { subjectDigest: subject } : {}),
    };
  }

  async deleteManifest(
    repo: RepositoryRef,
    reference: string,
    options: RequestOptions = {},
  ): Promise<boolean> {
    const details = { reference: referenceString(repo, reference) };
    const res = await this.#call(repo, 'DELETE', `manifests/${checkReference(reference, details)}`, {
      details,
      signal: options.signal,
      maxBytes: ERROR_BODY_BYTES,
    });
    if (res.status === 202 || res.status === 200) return true;
    // Registries without tag deletion (distribution 2.8 answers 400 DIGEST_INVALID) or with deletion
    // disabled (405 UNSUPPORTED) cannot do it; that is an answer, not a failure.
    if (res.status === 405 || (res.status === 400 && !isDigest(reference))) return false;
    this.#expect(res, [202], 'delete manifest', details);
    return true;
  }

  async hasBlob(repo: RepositoryRef, digest: string, options: RequestOptions = {}): Promise<boolean> {
    const details = { reference: referenceString(repo, digest), digest };
    const res = await this.#call(repo, 'HEAD', `blobs/${assertDigest(digest, details)}`, {
      details,
      signal: options.signal,
      maxBytes: 0,
    });
    if (res.status === 404) return false;
    this.#expect(res, [200], 'check blob', details);
    // A HEAD proves no bytes, but one naming other content than was asked for (a cache or proxy
    // answering for what it no longer holds) is not the blob: the caller uploads it, or finds it gone.
    const named = res.headers.get('docker-content-digest')?.trim();
    return named === undefined || named === '' || named === digest;
  }

  async getBlob(
    repo: RepositoryRef,
    digest: string,
    options: RequestOptions & { readonly maxBytes?: number } = {},
  ): Promise<Uint8Array> {
    const details = { reference: referenceString(repo, digest), digest };
    const res = await this.#call(repo, 'GET', `blobs/${assertDigest(digest, details)}`, {
      details,
      signal: options.signal,
      maxBytes: options.maxBytes ?? DEFAULT_MAX_BLOB_BYTES,
    });
    this.#expect(res, [200], 'get blob', details);
    const computed = sha256Digest(res.body);
    if (computed !== digest) {
      throw new RegistryIntegrityError('blob bytes do not hash to their digest', { ...details, computed });
    }
    return res.body;
  }

  async putBlob(
    repo: RepositoryRef,
    bytes: Uint8Array,
    mediaType: string,
    options: RequestOptions = {},
  ): Promise<Descriptor> {
    const digest = sha256Digest(bytes);
    const descriptor = { mediaType, digest, size: bytes.byteLength };
    // One upload of a blob at a time per process: docker-registry rewrites a blob's link file in place
    // on every commit, so a second upload of the same blob makes concurrent reads of it (HEAD, a
    // manifest PUT that names it) fail. Waiters whose upload failed try their own.
    const key = `${repo.host}/${repo.repository}@${digest}`;
    const inflight = UPLOADS.get(key);
    if (inflight !== undefined) {
      try {
        await inflight;
        return descriptor;
      } catch {
        // fall through
      }
    }
    const upload = this.#upload(repo, bytes, digest, options);
    UPLOADS.set(key, upload);
    try {
      await upload;
    } finally {
      if (UPLOADS.get(key) === upload) UPLOADS.delete(key);
    }
    return descriptor;
  }

  async #upload(
    repo: RepositoryRef,
    bytes: Uint8Array,
    digest: string,
    options: RequestOptions,
  ): Promise<void> {
    if (await this.#blobPresent(repo, digest, options)) return;
    const details = { reference: referenceString(repo, digest), digest };
    // Monolithic upload: POST opens a session, PUT to its Location with ?digest= closes it.
    const opened = await this.#call(repo, 'POST', 'blobs/uploads/', {
      details,
      signal: options.signal,
      maxBytes: ERROR_BODY_BYTES,
    });
    this.#expect(opened, [202], 'open blob upload', details);
    const location = opened.headers.get('location');
    if (location === null) throw new RegistryIntegrityError('blob upload opened without a Location', details);
    let uploadUrl: URL;
    try {
      uploadUrl = new URL(location, opened.url);
    } catch {
      throw new RegistryIntegrityError('blob upload opened with a Location that is not a URL', {
        ...details,
        location: urlForLog(location),
      });
    }
    // The session is the registry's own: the PUT is sent with the registry's credentials, so it goes to
    // the registry's origin only (a Location elsewhere would get them). A redirect from there is still
    // followed as any is, without credentials.
    const origin = registryOrigin(repo.host);
    if (uploadUrl.origin !== origin) {
      throw new ForeignTargetError(
        `blob upload: the registry's Location ${urlForLog(uploadUrl)} is not on its origin ${origin}; refusing to send the blob and credentials there`,
        { ...details, url: urlForLog(uploadUrl), origin },
      );
    }
    uploadUrl.searchParams.set('digest', digest);
    const closed = await this.#http.request({
      method: 'PUT',
      url: uploadUrl,
      origin,
      headers: { 'content-type': OCTET_STREAM },
      body: bytes,
      maxBytes: ERROR_BODY_BYTES,
      details,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    this.#expect(closed, [201], 'upload blob', details);
  }

  /**
   * Whether an upload can be skipped. A 5xx only means "upload it": docker-registry answers 500 to a
   * HEAD while another client commits the same blob (its link file is rewritten in place), which
   * parallel pushes of a shared config blob hit once requests stop waiting for a new connection each.
   */
  async #blobPresent(repo: RepositoryRef, digest: string, options: RequestOptions): Promise<boolean> {
    try {
      return await this.hasBlob(repo, digest, options);
    } catch (err) {
      const status = err instanceof DependencyError ? err.details['status'] : undefined;
      if (typeof status === 'number' && status >= 500) return false;
      throw err;
    }
  }

  async listTags(repo: RepositoryRef, options: ListOptions = {}): Promise<string[]> {
    const details = { repository: formatRepository(repo) };
    const first = this.#url(repo, 'tags/list', details);
    return await this.#listNames(first, options, details, (body) => {
      const page = parseJson(tagListSchema, body, details);
      return page.tags ?? [];
    });
  }

  async catalog(host: string, options: ListOptions = {}): Promise<string[]> {
    const details = { host };
    if (!isHost(host)) throw new InvalidInputError('invalid registry host', details);
    this.#http.assertAllowedHost(host, details);
    const first = new URL('/v2/_catalog', registryBaseUrl(host));
    return await this.#listNames(first, options, details, (body) => {
      const page = parseJson(catalogSchema, body, details);
      return page.repositories ?? [];
    });
  }

  async referrers(
    repo: RepositoryRef,
    digest: string,
    options: RequestOptions & { readonly artifactType?: string } = {},
  ): Promise<Descriptor[] | undefined> {
    const details = { reference: referenceString(repo, digest), repository: formatRepository(repo), digest };
    const first = this.#url(repo, `referrers/${assertDigest(digest, details)}`, details);
    if (options.artifactType !== undefined) first.searchParams.set('artifactType', options.artifactType);
    let filtered = false;
    const found = await this.#paginate(first, {
      what: 'list referrers',
      accept: OCI_INDEX,
      maxPageBytes: MAX_MANIFEST_BYTES,
      maxEntries: MAX_REFERRERS,
      maxBytes: MAX_REFERRERS_BYTES,
      // A registry that implements the API answers 200 even for an unknown digest; 404 means no API.
      absentOn404: true,
      details,
      signal: options.signal,
      entries: (res) => {
        filtered ||= (res.headers.get('oci-filters-applied') ?? '')
          .split(',')
          .some((f) => f.trim() === 'artifactType');
        return parseManifestBytes(imageIndexSchema, res.body, details).manifests;
      },
    });
    // The registry may ignore the filter; it says so by leaving OCI-Filters-Applied out. Then entries
    // whose artifactType is left open (artifactTypeUnsaid) are kept too: the caller reads their manifests.
    if (found !== undefined && options.artifactType !== undefined && !filtered) {
      return found.filter((d) => d.artifactType === options.artifactType || artifactTypeUnsaid(d));
    }
    return found;
  }

  /** Tags or repository names. Never undefined from #paginate: without absentOn404 a 404 throws. */
  async #listNames(
    first: URL,
    options: ListOptions,
    details: Record<string, unknown>,
    names: (body: Uint8Array) => string[],
  ): Promise<string[]> {
    if (options.pageSize !== undefined) first.searchParams.set('n', String(options.pageSize));
    const all = await this.#paginate(first, {
      what: 'list',
      accept: 'application/json',
      maxPageBytes: MAX_LIST_PAGE_BYTES,
      maxEntries: options.limit ?? DEFAULT_LIST_LIMIT,
      maxBytes: MAX_LIST_BYTES,
      absentOn404: false,
      details,
      signal: options.signal,
      entries: (res) => names(res.body),
    });
    return all ?? [];
  }

  /**
   * Every entry of a listing that follows RFC 8288 `Link: rel="next"` pages. The registry chooses the
   * pages, so the walk is bounded: a page already read (a loop), too many pages, entries or bytes end
   * it with a RegistryIntegrityError, before a hostile registry can fill the function's memory. A next
   * page is the same listing (distribution-spec: `<url>?n=…&last=…`): on the first page's origin and
   * path, or the walk ends with a ForeignTargetError. Followed anywhere, it would carry the credentials
   * of whichever allowlisted host it named, and list what that host holds as this registry's.
   */
  async #paginate<T>(first: URL, listing: Listing<T>): Promise<T[] | undefined> {
    const all: T[] = [];
    const seen = new Set<string>();
    let bytes = 0;
    let next: URL | undefined = first;
    for (let page = 0; next !== undefined; page++) {
      checkNextPage(listing, first, next, seen, page);
      seen.add(next.href);
      const res = await this.#http.request({
        method: 'GET',
        url: next,
        origin: first.origin,
        headers: { accept: listing.accept },
        maxBytes: listing.maxPageBytes,
        details: listing.details,
        ...(listing.signal === undefined ? {} : { signal: listing.signal }),
      });
      if (res.status === 404 && page === 0 && listing.absentOn404) return undefined;
      this.#expect(res, [200], listing.what, listing.details);
      // The seen set keeps every page's URL, so URLs count against the byte bound as bodies do.
      bytes += res.body.byteLength + next.href.length;
      const entries = listing.entries(res);
      checkWalkBounds(listing, bytes, all.length + entries.length);
      // One push per entry: a spread of a page's entries can exceed the engine's argument limit.
      for (const entry of entries) all.push(entry);
      next = nextLink(res, listing.details);
    }
    return all;
  }

  #url(repo: RepositoryRef, path: string, details: Record<string, unknown>): URL {
    if (!isHost(repo.host))
      throw new InvalidInputError('invalid registry host', { ...details, host: repo.host });
    if (!isRepository(repo.repository)) {
      throw new InvalidInputError('invalid repository name', { ...details, repository: repo.repository });
    }
    this.#http.assertAllowedHost(repo.host, details);
    return new URL(`${registryOrigin(repo.host)}/v2/${repo.repository}/${path}`);
  }

  async #call(
    repo: RepositoryRef,
    method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE',
    path: string,
    opts: {
      details: Record<string, unknown>;
      maxBytes: number;
      signal?: AbortSignal | undefined;
      accept?: boolean;
      body?: Uint8Array;
      contentType?: string;
    },
  ): Promise<HttpResponse> {
    const headers: Record<string, string> = {};
    if (opts.accept === true) headers['accept'] = MANIFEST_MEDIA_TYPES.join(', ');
    if (opts.contentType !== undefined) headers['content-type'] = opts.contentType;
    return await this.#http.request({
      method,
      url: this.#url(repo, path, opts.details),
      headers,
      maxBytes: opts.maxBytes,
      details: opts.details,
      ...(opts.body === undefined ? {} : { body: opts.body }),
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    });
  }

  #expect(res: HttpResponse, ok: number[], what: string, details: Record<string, unknown>): void {
    if (ok.includes(res.status)) return;
    const errors = registryErrorCodes(res.body);
    const info = { ...details, status: res.status, ...(errors.length > 0 ? { registryErrors: errors } : {}) };
    if (res.status === 404) throw new RegistryNotFoundError(`${what}: not found`, info);
    if (res.status >= 500 || [401, 403, 408, 429].includes(res.status)) {
      // Auth failures are retryable: a token may have expired or IAM may still be propagating.
      throw new DependencyError('registry', `${what}: HTTP ${res.status}`, info);
    }
    throw new RegistryRejectedError(`${what}: HTTP ${res.status}`, info);
  }
}

function referenceString(repo: RepositoryRef, reference: string): string {
  return `${formatRepository(repo)}${isDigest(reference) ? '@' : ':'}${reference}`;
}

function checkReference(reference: string, details: Record<string, unknown>): string {
  if (!isDigest(reference) && !isTag(reference)) {
    throw new InvalidInputError('neither a tag nor a sha256 digest', { ...details, value: reference });
  }
  return reference;
}

function contentType(res: HttpResponse): string | undefined {
  const value = res.headers.get('content-type')?.split(';')[0]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/** The body's `mediaType`, read as Go reads it: none when the text is not JSON or spells it twice. */
function embeddedMediaType(bytes: Uint8Array): string | undefined {
  try {
    const json = asGoStruct(parseGoJson(Buffer.from(bytes).toString('utf8')), ['mediaType']);
    const mediaType = (json as { mediaType?: unknown } | null)?.mediaType;
    return typeof mediaType === 'string' ? mediaType : undefined;
  } catch {
    return undefined;
  }
}

function parseJson<T extends z.ZodType>(
  schema: T,
  body: Uint8Array,
  details: Record<string, unknown>,
): z.infer<T> {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch (cause) {
    throw new RegistryIntegrityError('response is not JSON', { ...details, reason: describeError(cause) });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new RegistryIntegrityError('response does not have the expected shape', {
      ...details,
      reason: z.prettifyError(parsed.error),
    });
  }
  return parsed.data;
}

/**
 * Refuse a next page off the listing (another origin or path than the first page's), one the walk has
 * read already (a loop), or one page too many.
 */
function checkNextPage(
  listing: Listing<unknown>,
  first: URL,
  next: URL,
  seen: Set<string>,
  page: number,
): void {
  if (next.origin !== first.origin || next.pathname !== first.pathname) {
    throw new ForeignTargetError(
      `${listing.what}: the registry's next page ${urlForLog(next)} is not on the listing ${urlForLog(first)}; refusing to follow it`,
      { ...listing.details, url: urlForLog(next), listing: urlForLog(first) },
    );
  }
  if (seen.has(next.href)) {
    throw new RegistryIntegrityError(`${listing.what}: pagination loops back to a page already read`, {
      ...listing.details,
      url: urlForLog(next),
    });
  }
  if (page >= MAX_PAGES) {
    throw new RegistryIntegrityError(`${listing.what}: more than ${MAX_PAGES} pages`, listing.details);
  }
}

/** Refuse a walk that has read more bytes, or would keep more entries, than its listing allows. */
function checkWalkBounds(listing: Listing<unknown>, bytes: number, entries: number): void {
  if (bytes > listing.maxBytes) {
    throw new RegistryIntegrityError(`${listing.what}: more than ${listing.maxBytes} bytes over all pages`, {
      ...listing.details,
      maxBytes: listing.maxBytes,
    });
  }
  if (entries > listing.maxEntries) {
    throw new RegistryIntegrityError(`${listing.what}: more than ${listing.maxEntries} entries`, {
      ...listing.details,
      limit: listing.maxEntries,
    });
  }
}

/** The `rel="next"` target of an RFC 8288 Link header, resolved against the page that carried it. */
function nextLink(res: HttpResponse, details: Record<string, unknown>): URL | undefined {
  const header = res.headers.get('link');
  if (header === null) return undefined;
  for (const part of header.split(',')) {
    const match = /^\s*<([^>]*)>\s*(.*)$/.exec(part);
    if (match === null) continue;
    const params = match[2] ?? '';
    if (!/(?:^|;)\s*rel\s*=\s*"?next"?\s*(?:;|$)/i.test(params)) continue;
    try {
      return new URL(match[1] ?? '', res.url);
    } catch {
      throw new RegistryIntegrityError('unparseable Link header', {
        ...details,
        link: urlForLog(match[1] ?? ''),
      });
    }
  }
  return undefined;
}

function registryErrorCodes(body: Uint8Array): string[] {
  try {
    const json = JSON.parse(Buffer.from(body.subarray(0, ERROR_BODY_BYTES)).toString('utf8')) as {
      errors?: Array<{ code?: unknown }>;
    };
    return (json.errors ?? []).map((e) => String(e.code)).slice(0, 10);
  } catch {
    return [];
  }
}
