/**
 * The platform manifests a pushed index makes signOnPush sign (when its rule asks): the manifests it
 * lists, and those of an index inside it. The whole tree is read before anything is signed, so a push
 * past the bounds is refused whole, never signed in part; and each digest is read once however often
 * the indexes list it (nested indexes listing one child N times cost 1 + N + N² reads and claims per
 * delivery before).
 *
 * A manifest in the tree that the registry has but sigsentry will not read as the registry reads it
 * (not JSON, a key twice or a field spelled two ways, an index listing anything but digests), or that
 * the registry will not serve as it should (bytes that do not hash to the digest, a media type
 * sigsentry does not read, over the size cap, a request refused), refuses the whole push too:
 * admission checks verify the index's digest, so a child runs under the index's signature, and
 * signing the index would vouch for what sigsentry refused or could not judge. Only a child the
 * registry does not have (404: deleted since, nothing to run) is refused on its own.
 *
 * A child that is a signature or attestation (signatureArtifactKind: buildx's `unknown/unknown`
 * attestation manifests, cosign's, Notation's) is skipped, judged by its manifest alone: an index's
 * `vnd.docker.reference.type: attestation-manifest` annotation is not read, so a runnable image
 * listed under it is signed like any child.
 */
import { isRetryable, PolicyViolationError } from '../errors.ts';
import { errorMessage } from '../logging/describe.ts';
import { RegistryNotFoundError } from '../registry/errors.ts';
import {
  InvalidIndexError,
  indexChildDigests,
  type ManifestView,
  UnreadableManifestError,
} from './manifest-view.ts';
import { NotInRegistryError } from './not-in-registry.ts';
import {
  firstRunnableListed,
  type SignatureArtifactKind,
  signatureArtifactKind,
} from './signature-artifacts.ts';

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
 * them. A child the registry does not have (404) is a `refused` step (alerted on its own, the rest
 * still signed). A push past the bounds, listing anything but digests itself, or listing a manifest
 * unreadable as the registry reads it or that it will not serve (UnreadableChildError), throws, as
 * does a retryable error (the delivery is tried again).
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
  /**
   * Every digest read or to be read, the pushed one included: those admitted, and those a
   * referrers-shaped index lists, read to judge it (#listsRunnable). Bounded by MAX_MANIFESTS_PER_PUSH.
   */
  readonly #touched: Set<string>;
  /** Each read, by digest, so a manifest read to judge an index is not read again when visited. */
  readonly #reads = new Map<string, Promise<ReadManifest>>();

  constructor(pushed: ReadManifest, reader: ManifestReader) {
    this.#pushed = pushed;
    this.#reader = reader;
    this.#seen = new Set([pushed.digest]);
    this.#touched = new Set([pushed.digest]);
  }

  /** Visits the children of `index` not seen before; `depth` is the index's own nesting. */
  async visitChildren(index: ReadManifest, children: readonly string[], depth: number): Promise<void> {
    for (const digest of this.#admit(children)) await this.#visit(digest, index, depth + 1);
  }

  /** The children not seen before, counted against the bound before any of them is read. */
  #admit(children: readonly string[]): string[] {
    const fresh = [...new Set(children)].filter((digest) => !this.#seen.has(digest));
    for (const digest of fresh) {
      this.#seen.add(digest);
      this.#touched.add(digest);
    }
    if (this.#touched.size > MAX_MANIFESTS_PER_PUSH)
      throw new TooManyManifestsError(this.#pushed, this.#touched.size);
    return fresh;
  }

  async #visit(digest: string, index: ReadManifest, depth: number): Promise<void> {
    const child = await this.#readChild(digest, index);
    if (child === undefined) return;
    const artifact = signatureArtifactKind(child.view);
    // A referrers-shaped index is one only if nothing it lists could run; else it is an index.
    if (artifact && !(artifact === 'referrers fallback index' && (await this.#listsRunnable(child)))) {
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
   * The child, or undefined (a `refused` step) when the registry does not have it (404). Any other
   * lasting failure refuses the whole push: one unreadable as the registry reads it, or one the
   * registry will not serve as it should (RegistryIntegrityError: bytes that do not hash to the
   * digest, a media type sigsentry does not read, over the size cap; a request it refuses).
   */
  async #readChild(digest: string, index: ReadManifest): Promise<ReadManifest | undefined> {
    try {
      return await this.#read(digest);
    } catch (err) {
      if (!isGone(err)) throw this.#refusal(digest, err);
      this.steps.push({
        kind: 'refused',
        image: this.#reader.imageOf(digest),
        index: index.image,
        error: err,
      });
      return undefined;
    }
  }

  #read(digest: string): Promise<ReadManifest> {
    let read = this.#reads.get(digest);
    if (read === undefined) {
      read = this.#reader.read(digest);
      this.#reads.set(digest, read);
    }
    return read;
  }

  /** What a failure to read a child means for the push: retried, or refused whole. */
  #refusal(digest: string, err: unknown): unknown {
    if (isRetryable(err)) return err;
    const child = this.#reader.imageOf(digest);
    if (err instanceof UnreadableManifestError)
      return new UnreadableChildError(this.#pushed, child, err.reason);
    const message = errorMessage(err);
    return new UnreadableChildError(this.#pushed, child, `could not be read (${message})`);
  }

  /**
   * Whether an index in the tree shaped like a referrers fallback index lists a manifest that could
   * run (firstRunnableListed, the rule the pushed index is judged by). Its entries are read as its
   * children would be, counted against the bound; a gone one cannot run, an unreadable one could.
   * No config blob is read here: a listed manifest whose config would decide counts as one that
   * could run, so the index is signed (and its entries visited) rather than skipped on a guess.
   */
  async #listsRunnable(index: ReadManifest): Promise<boolean> {
    const listed = this.#childrenOf(index);
    for (const digest of listed) this.#touched.add(digest);
    if (this.#touched.size > MAX_MANIFESTS_PER_PUSH)
      throw new TooManyManifestsError(this.#pushed, this.#touched.size);
    const runnable = await firstRunnableListed(listed, {
      manifest: async (digest) => {
        try {
          return (await this.#read(digest)).view;
        } catch (err) {
          if (isGone(err)) return undefined;
          if (err instanceof UnreadableManifestError) return 'unreadable';
          throw this.#refusal(digest, err);
        }
      },
    });
    return runnable !== undefined;
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

/** A child the registry does not have (404), as the reader reports it: refused on its own. */
function isGone(err: unknown): boolean {
  return err instanceof NotInRegistryError || err instanceof RegistryNotFoundError;
}
