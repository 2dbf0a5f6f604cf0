/**
 * A Registry that hands every call to another. A wrapper that changes one call (reverify's
 * PassRegistry, verify's BlobsReadOnce) extends it and overrides that call alone.
 */
import type { Descriptor } from './manifest.ts';
import type { ImageReference, RepositoryRef } from './reference.ts';
import type {
  FetchedManifest,
  ListOptions,
  PutManifestResult,
  Registry,
  RequestOptions,
} from './registry.ts';

export class ForwardingRegistry implements Registry {
  protected readonly registry: Registry;

  constructor(registry: Registry) {
    this.registry = registry;
  }

  resolve(ref: ImageReference, options?: RequestOptions): Promise<Descriptor> {
    return this.registry.resolve(ref, options);
  }
  getManifest(
    repo: RepositoryRef,
    reference: string,
    options?: RequestOptions & { readonly maxBytes?: number },
  ): Promise<FetchedManifest> {
    return this.registry.getManifest(repo, reference, options);
  }
  putManifest(
    repo: RepositoryRef,
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
    options?: RequestOptions,
  ): Promise<PutManifestResult> {
    return this.registry.putManifest(repo, reference, bytes, mediaType, options);
  }
  deleteManifest(repo: RepositoryRef, reference: string, options?: RequestOptions): Promise<boolean> {
    return this.registry.deleteManifest(repo, reference, options);
  }
  hasBlob(repo: RepositoryRef, digest: string, options?: RequestOptions): Promise<boolean> {
    return this.registry.hasBlob(repo, digest, options);
  }
  getBlob(
    repo: RepositoryRef,
    digest: string,
    options?: RequestOptions & { readonly maxBytes?: number },
  ): Promise<Uint8Array> {
    return this.registry.getBlob(repo, digest, options);
  }
  putBlob(
    repo: RepositoryRef,
    bytes: Uint8Array,
    mediaType: string,
    options?: RequestOptions,
  ): Promise<Descriptor> {
    return this.registry.putBlob(repo, bytes, mediaType, options);
  }
  listTags(repo: RepositoryRef, options?: ListOptions): Promise<string[]> {
    return this.registry.listTags(repo, options);
  }
  catalog(host: string, options?: ListOptions): Promise<string[]> {
    return this.registry.catalog(host, options);
  }
  referrers(
    repo: RepositoryRef,
    digest: string,
    options?: RequestOptions & { readonly artifactType?: string },
  ): Promise<Descriptor[] | undefined> {
    return this.registry.referrers(repo, digest, options);
  }
}
