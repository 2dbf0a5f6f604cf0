/**
 * The registry as one read of an image's signatures sees it: each blob (repository, digest, size
 * bound) is fetched once, whatever number of layers name it. A `.sig` manifest is anyone's to push
 * to, and thousands of layers naming one payload blob cost one GET, not one each. Every layer is
 * still judged on its own, from the same bytes: a blob is content-addressed (getBlob checks the
 * bytes against the digest). A blob that could not be read (404, oversized, other content) fails
 * the same way for every layer naming it, so the failure is kept for the read too. Everything else
 * goes straight to the registry.
 */
import type { Descriptor } from '../registry/manifest.ts';
import type { ImageReference, RepositoryRef } from '../registry/reference.ts';
import type {
  FetchedManifest,
  ListOptions,
  PutManifestResult,
  Registry,
  RequestOptions,
} from '../registry/registry.ts';

export class BlobsReadOnce implements Registry {
  readonly #registry: Registry;
  readonly #blobs = new Map<string, Promise<Uint8Array>>();

  constructor(registry: Registry) {
    this.#registry = registry;
  }

  getBlob(
    repo: RepositoryRef,
    digest: string,
    options?: RequestOptions & { readonly maxBytes?: number },
  ): Promise<Uint8Array> {
    const key = `${repo.host}/${repo.repository}@${digest}|${options?.maxBytes ?? 'unbounded'}`;
    let blob = this.#blobs.get(key);
    if (blob === undefined) {
      blob = this.#registry.getBlob(repo, digest, options);
      this.#blobs.set(key, blob);
    }
    return blob;
  }

  resolve(ref: ImageReference, options?: RequestOptions): Promise<Descriptor> {
    return this.#registry.resolve(ref, options);
  }
  getManifest(
    repo: RepositoryRef,
    reference: string,
    options?: RequestOptions & { readonly maxBytes?: number },
  ): Promise<FetchedManifest> {
    return this.#registry.getManifest(repo, reference, options);
  }
  putManifest(
    repo: RepositoryRef,
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
    options?: RequestOptions,
  ): Promise<PutManifestResult> {
    return this.#registry.putManifest(repo, reference, bytes, mediaType, options);
  }
  deleteManifest(repo: RepositoryRef, reference: string, options?: RequestOptions): Promise<boolean> {
    return this.#registry.deleteManifest(repo, reference, options);
  }
  hasBlob(repo: RepositoryRef, digest: string, options?: RequestOptions): Promise<boolean> {
    return this.#registry.hasBlob(repo, digest, options);
  }
  putBlob(
    repo: RepositoryRef,
    bytes: Uint8Array,
    mediaType: string,
    options?: RequestOptions,
  ): Promise<Descriptor> {
    return this.#registry.putBlob(repo, bytes, mediaType, options);
  }
  listTags(repo: RepositoryRef, options?: ListOptions): Promise<string[]> {
    return this.#registry.listTags(repo, options);
  }
  catalog(host: string, options?: ListOptions): Promise<string[]> {
    return this.#registry.catalog(host, options);
  }
  referrers(
    repo: RepositoryRef,
    digest: string,
    options?: RequestOptions & { readonly artifactType?: string },
  ): Promise<Descriptor[] | undefined> {
    return this.#registry.referrers(repo, digest, options);
  }
}
