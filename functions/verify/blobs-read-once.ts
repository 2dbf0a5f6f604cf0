/**
 * The registry as one read of an image's signatures sees it: each blob (repository, digest, size
 * bound) is fetched once, whatever number of layers name it. A `.sig` manifest is anyone's to push
 * to, and thousands of layers naming one payload blob cost one GET, not one each. Every layer is
 * still judged on its own, from the same bytes: a blob is content-addressed (getBlob checks the
 * bytes against the digest). A blob that could not be read (404, oversized, other content) fails
 * the same way for every layer naming it, so the failure is kept for the read too. Everything else
 * goes straight to the registry.
 */
import { ForwardingRegistry } from '../registry/forwarding-registry.ts';
import type { RepositoryRef } from '../registry/reference.ts';
import type { RequestOptions } from '../registry/registry.ts';

export class BlobsReadOnce extends ForwardingRegistry {
  readonly #blobs = new Map<string, Promise<Uint8Array>>();

  override getBlob(
    repo: RepositoryRef,
    digest: string,
    options?: RequestOptions & { readonly maxBytes?: number },
  ): Promise<Uint8Array> {
    const key = `${repo.host}/${repo.repository}@${digest}|${options?.maxBytes ?? 'unbounded'}`;
    let blob = this.#blobs.get(key);
    if (blob === undefined) {
      blob = this.registry.getBlob(repo, digest, options);
      this.#blobs.set(key, blob);
    }
    return blob;
  }
}
