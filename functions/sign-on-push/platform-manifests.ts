/**
 * The platform manifests a pushed index makes signOnPush sign (when its rule asks): the manifests it
 * lists, and those of an index inside it. The whole tree is read before anything is signed, so a push
 * past the bounds is refused whole, never signed in part; and each digest is read once however often
 * the indexes list it (nested indexes listing one child N times cost 1 + N + N² reads and claims per
 * delivery before).
 *
 * A manifest in the tree that the registry has but sigsentry will not read as the registry reads it
 * (not JSON, a key twice or a field spelled two ways, an index listing anything but digests) refuses
 * the whole push too: admission checks verify the index's digest, so a child runs under the index's
 * signature, and signing the index would vouch for what sigsentry refused to judge. Only a child the
 * registry does not have (or another lasting failure to fetch it) is refused on its own.
 */
import { isRetryable, PolicyViolationError } from '../errors.ts';
import {
  InvalidIndexError,
  indexChildDigests,
  type ManifestView,
  UnreadableManifestError,
} from './manifest-view.ts';
import { type SignatureArtifactKind, signatureArtifactKind } from './signature-artifacts.ts';

/** Distinct manifests one push may make sigsentry read and sign, the pushed one included. */
export const MAX_MANIFESTS_PER_PUSH = 256;
/** Indexes that may nest inside the pushed one: an index of indexes is allowed, one level further is not. */
export const MAX_NESTED_INDEXES = 1;

/** Reads a manifest of the pushed repository by digest, as the registry reads it. */
export interface ManifestReader {
  read(digest: string): Promise<ReadManifest>;
  /** HOST/REPO@digest */
  imageOf(digest: string): string;
}

/** A manifest fetched by digest and read as the registry reads it. */
export interface ReadManifest {
  readonly digest: string;
  /** HOST/REPO@digest */
  readonly image: string;
  readonly isIndex: boolean;
  readonly view: ManifestView;
}

/** What to do with one platform manifest; `index` is the image of the index that listed it. */
export type PlatformStep =
  | { readonly kind: 'sign'; readonly digest: string; readonly image: string; readonly index: string }
  | {
      readonly kind: 'skip';
      readonly image: string;
      readonly index: string;
      readonly reason: SignatureArtifactKind;
    }
  | { readonly kind: 'refused'; readonly image: string; readonly index: string; readonly error: unknown };

/** A push listing more distinct manifests than MAX_MANIFESTS_PER_PUSH. */
export class TooManyManifestsError extends PolicyViolationError {
  constructor(pushed: ReadManifest, listed: number) {
    super(
      `refusing to sign ${pushed.image}: with the manifests its indexes list, it is at least ${listed} distinct manifests to sign, over the limit of ${MAX_MANIFESTS_PER_PUSH} for one push`,
      { image: pushed.image, digest: pushed.digest, listed, limit: MAX_MANIFESTS_PER_PUSH },
    );
  }
}

/** A push with an index nested deeper than MAX_NESTED_INDEXES. */
export class IndexTooDeepError extends PolicyViolationError {
  constructor(pushed: ReadManifest, nested: ReadManifest, depth: number) {
    super(
      `refusing to sign ${pushed.image}: the index ${nested.image} is nested ${depth} indexes deep in it, over the limit of ${MAX_NESTED_INDEXES}`,
      { image: pushed.image, digest: pushed.digest, nested: nested.image, depth, limit: MAX_NESTED_INDEXES },
    );
  }
}

/** A push listing a manifest (at any depth) that sigsentry will not read as the registry reads it. */
export class UnreadableChildError extends PolicyViolationError {
  constructor(pushed: ReadManifest, child: string, reason: string) {
    super(`refusing to sign ${pushed.image}: the manifest ${child} in it ${reason}`, {
      image: pushed.image,
      digest: pushed.digest,
      child,
      reason,
    });
  }
}

/**
 * The steps for the platform manifests under `pushed` (an index), children before the index listing
 * them. A child the registry does not have (or another lasting failure to fetch it) is a `refused`
 * step (alerted on its own, the rest still signed). A push past the bounds, listing anything but
 * digests itself, or listing a manifest unreadable as the registry reads it (UnreadableChildError),
 * throws, as does a retryable error (the delivery is tried again).
 */
export async function planPlatformManifests(
  pushed: ReadManifest,
  reader: ManifestReader,
): Promise<PlatformStep[]> {
  const walk = new IndexWalk(pushed, reader);
  await walk.visitChildren(pushed, indexChildDigests(pushed.view, pushed.image, pushed.digest), 0);
  return walk.steps;
}

class IndexWalk {
  readonly steps: PlatformStep[] = [];
  readonly #pushed: ReadManifest;
  readonly #reader: ManifestReader;
  /** Every digest admitted so far, the pushed one included: each is read at most once. */
  readonly #seen: Set<string>;

  constructor(pushed: ReadManifest, reader: ManifestReader) {
    this.#pushed = pushed;
    this.#reader = reader;
    this.#seen = new Set([pushed.digest]);
  }

  /** Visits the children of `index` not seen before; `depth` is the index's own nesting. */
  async visitChildren(index: ReadManifest, children: readonly string[], depth: number): Promise<void> {
    for (const digest of this.#admit(children)) await this.#visit(digest, index, depth + 1);
  }

  /** The children not seen before, counted against the bound before any of them is read. */
  #admit(children: readonly string[]): string[] {
    const fresh = [...new Set(children)].filter((digest) => !this.#seen.has(digest));
    for (const digest of fresh) this.#seen.add(digest);
    if (this.#seen.size > MAX_MANIFESTS_PER_PUSH)
      throw new TooManyManifestsError(this.#pushed, this.#seen.size);
    return fresh;
  }

  async #visit(digest: string, index: ReadManifest, depth: number): Promise<void> {
    const child = await this.#readChild(digest, index);
    if (child === undefined) return;
    const artifact = signatureArtifactKind(child.view);
    if (artifact) {
      this.steps.push({ kind: 'skip', image: child.image, index: index.image, reason: artifact });
      return;
    }
    if (child.isIndex) {
      if (depth > MAX_NESTED_INDEXES) throw new IndexTooDeepError(this.#pushed, child, depth);
      await this.visitChildren(child, this.#childrenOf(child), depth);
    }
    this.steps.push({ kind: 'sign', digest: child.digest, image: child.image, index: index.image });
  }

  /**
   * The child, or undefined (a `refused` step) when it cannot be fetched for good. One fetched but
   * unreadable as the registry reads it refuses the whole push.
   */
  async #readChild(digest: string, index: ReadManifest): Promise<ReadManifest | undefined> {
    try {
      return await this.#reader.read(digest);
    } catch (err) {
      if (isRetryable(err)) throw err;
      if (err instanceof UnreadableManifestError) {
        throw new UnreadableChildError(this.#pushed, this.#reader.imageOf(digest), err.reason);
      }
      this.steps.push({
        kind: 'refused',
        image: this.#reader.imageOf(digest),
        index: index.image,
        error: err,
      });
      return undefined;
    }
  }

  /** A nested index's children; one listing anything but digests refuses the whole push. */
  #childrenOf(nested: ReadManifest): string[] {
    try {
      return indexChildDigests(nested.view, nested.image, nested.digest);
    } catch (err) {
      if (!(err instanceof InvalidIndexError)) throw err;
      throw new UnreadableChildError(this.#pushed, nested.image, `is not a valid index (${err.reason})`);
    }
  }
}
