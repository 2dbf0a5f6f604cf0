/**
 * The registry as one pass sees it. The referrers API is a registry's feature, not a digest's: once a
 * repository answers that it has none (404), the pass reads the other digests of that repository from
 * the referrers tag schema without asking the API again (what a 404 leads to anyway). A new pass asks
 * again. Everything else goes straight to the registry.
 */
import { ForwardingRegistry } from '../registry/forwarding-registry.ts';
import type { Descriptor } from '../registry/manifest.ts';
import type { RepositoryRef } from '../registry/reference.ts';
import type { RequestOptions } from '../registry/registry.ts';

export class PassRegistry extends ForwardingRegistry {
  /** Per repository: whether it has the API, once the first request (which the others wait for) tells. */
  readonly #hasApi = new Map<string, Promise<boolean>>();

  override async referrers(
    repo: RepositoryRef,
    digest: string,
    options?: RequestOptions & { readonly artifactType?: string },
  ): Promise<Descriptor[] | undefined> {
    const key = `${repo.host}/${repo.repository}`;
    const known = this.#hasApi.get(key);
    if (known !== undefined) {
      // When the first request failed, this one asks for itself.
      if (!(await known.catch(() => true))) return undefined;
      return await this.registry.referrers(repo, digest, options);
    }
    const found = this.registry.referrers(repo, digest, options);
    const hasApi = found.then((f) => f !== undefined);
    this.#hasApi.set(key, hasApi);
    // A failed first request settles nothing: the next one asks again.
    hasApi.catch(() => this.#hasApi.delete(key));
    return await found;
  }
}
