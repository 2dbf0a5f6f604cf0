/**
 * The registry as one pass sees it. The referrers API is a registry's feature, not a digest's: once a
 * repository answers that it has none (404), the pass reads the other digests of that repository from
 * the referrers tag schema without asking the API again (what a 404 leads to anyway). A new pass asks
 * again. Everything else goes straight to the registry.
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

export class PassRegistry implements Registry {
  readonly #registry: Registry;
  /** Per repository: whether it has the API, once the first request (which the others wait for) tells. */
  readonly #hasApi = new Map<string, Promise<boolean>>();

  constructor(registry: Registry) {
    this.#registry = registry;
  }

  async referrers(
    repo: RepositoryRef,
    digest: string,
    options?: RequestOptions & { readonly artifactType?: string },
  ): Promise<Descriptor[] | undefined> {
    const key = `${repo.host}/${repo.repository}`;
    const known = this.#hasApi.get(key);
    if (known !== undefined) {
      // When the first request failed, this one asks for itself.
      if (!(await known.catch(() => true))) return undefined;
      return await this.#registry.referrers(repo, digest, options);
    }
    const found = this.#registry.referrers(repo, digest, options);
    const hasApi = found.then((f) => f !== undefined);
    this.#hasApi.set(key, hasApi);
    // A failed first request settles nothing: the next one asks again.
    hasApi.catch(() => this.#hasApi.delete(key));
    return await found;
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
  getBlob(
    repo: RepositoryRef,
    digest: string,
    options?: RequestOptions & { readonly maxBytes?: number },
  ): Promise<Uint8Array> {
    return this.#registry.getBlob(repo, digest, options);
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
}
