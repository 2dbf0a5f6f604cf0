/**
 * The registry as the rest of sigsentry sees it: an OCI distribution-spec client. Modules take a
 * `Registry` as an argument, so tests and other backends can stand in for the HTTP client.
 */
import type { Descriptor } from './manifest.ts';
import type { ImageReference, RepositoryRef } from './reference.ts';

export interface RequestOptions {
  readonly signal?: AbortSignal;
}

export interface FetchedManifest {
  /** mediaType from the response, digest computed from the bytes, size of the bytes. */
  readonly descriptor: Descriptor;
  readonly bytes: Uint8Array;
}

export interface PutManifestResult {
  readonly descriptor: Descriptor;
  /** The `OCI-Subject` response header: set by registries that index referrers themselves. */
  readonly subjectDigest?: string;
}

export interface ListOptions extends RequestOptions {
  /** Page size asked for with `n`; registries may ignore it. */
  readonly pageSize?: number;
  /** Stop after this many entries (a guard against endless listings). Default 100 000. */
  readonly limit?: number;
}

export interface Registry {
  /** Resolve a tag or digest to the manifest's (digest, mediaType, size); a digest is checked to exist. */
  resolve(ref: ImageReference, options?: RequestOptions): Promise<Descriptor>;
  /**
   * Fetch a manifest by tag or digest; its bytes are verified to hash to the digest and capped in
   * size (`maxBytes`, at most the client's 4 MiB manifest cap; a larger answer is
   * RegistryIntegrityError, read no further).
   */
  getManifest(
    repo: RepositoryRef,
    reference: string,
    options?: RequestOptions & { readonly maxBytes?: number },
  ): Promise<FetchedManifest>;
  /** Push manifest bytes under a tag, or under their own digest when `reference` is a digest. */
  putManifest(
    repo: RepositoryRef,
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
    options?: RequestOptions,
  ): Promise<PutManifestResult>;
  /** Delete a manifest or tag; false when the registry does not support deleting by that reference. */
  deleteManifest(repo: RepositoryRef, reference: string, options?: RequestOptions): Promise<boolean>;
  hasBlob(repo: RepositoryRef, digest: string, options?: RequestOptions): Promise<boolean>;
  /** Fetch a blob, verified against its digest; `maxBytes` defaults to 16 MiB. */
  getBlob(
    repo: RepositoryRef,
    digest: string,
    options?: RequestOptions & { readonly maxBytes?: number },
  ): Promise<Uint8Array>;
  /** Upload a blob unless the repository already has it; returns its descriptor. */
  putBlob(
    repo: RepositoryRef,
    bytes: Uint8Array,
    mediaType: string,
    options?: RequestOptions,
  ): Promise<Descriptor>;
  listTags(repo: RepositoryRef, options?: ListOptions): Promise<string[]>;
  catalog(host: string, options?: ListOptions): Promise<string[]>;
  /**
   * The referrers API (`GET /v2/<name>/referrers/<digest>`): descriptors of manifests whose subject is
   * `digest`, or undefined when the registry does not implement the API (404), in which case the
   * referrers tag schema (`sha256-<hex>`) is the fallback.
   */
  referrers(
    repo: RepositoryRef,
    digest: string,
    options?: RequestOptions & { readonly artifactType?: string },
  ): Promise<Descriptor[] | undefined>;
}
