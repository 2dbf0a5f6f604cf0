/**
 * What an attach may rewrite. The `.sig` manifest (`sha256-<hex>.sig`) and the referrers fallback
 * index (`sha256-<hex>`) live under ordinary tags that anyone who can push may fill with anything:
 * a pipeline that names tags after digests puts a runnable image or a multi-arch index there, and
 * signOnPush signs that push like any other (sign-on-push/signature-artifacts.ts). Attaching for
 * image A merges into what A's tag holds only if it already is what the tag is for: a cosign
 * signature manifest, a referrers index listing nothing that could run. Anything else is foreign
 * content. The format is refused for A (ForeignTagContentError), and nothing is written, replaced or
 * moved.
 */
import { PolicyViolationError } from '../errors.ts';
import type { Descriptor } from '../registry/manifest.ts';
import { type DigestReference, formatImageReference, type RepositoryRef } from '../registry/reference.ts';
import type { Registry } from '../registry/registry.ts';
import { listedDigestCouldRun } from '../sign-on-push/signature-artifacts.ts';

/** The formats, as watch rules name them, and what each attaches under its tag. */
const WHAT: Record<'cosign' | 'bundle', { signature: string; expected: string }> = {
  cosign: { signature: 'cosign signature', expected: 'a cosign signature manifest' },
  bundle: { signature: 'Sigstore bundle referrer', expected: 'a referrers fallback index' },
};

/**
 * A tag that the attach of `image` in `format` would rewrite holds something else: an image, an
 * index, or an artifact that is not the kind of manifest the tag is for. Nothing was written. The
 * error is a PolicyViolationError, so signOnPush raises a HIGH `signing-refused` alert, or a
 * `signing-failed` alert for the format while the image stays signed in its others
 * (FormatNotAddedError). It is never retried: the content stays until someone moves it.
 */
export class ForeignTagContentError extends PolicyViolationError {
  constructor(
    format: 'cosign' | 'bundle',
    image: DigestReference,
    tag: string,
    found: Descriptor,
    held: string,
  ) {
    const imageRef = formatImageReference(image);
    const tagRef = `${image.host}/${image.repository}:${tag}`;
    super(
      `refusing to attach the ${WHAT[format].signature} of ${imageRef}: the tag ${tagRef} holds ${held} (${found.digest}), not ${WHAT[format].expected}; it is left as it is`,
      {
        image: imageRef,
        digest: image.digest,
        format,
        tag: tagRef,
        tagDigest: found.digest,
        mediaType: found.mediaType,
      },
    );
  }
}

/**
 * The first of `listed` (the digests a referrers index lists) whose manifest could run, or
 * undefined when none could. A runtime pulling the index's tag takes an entry with no platform as
 * matching any platform, whatever its artifactType. Judged as reverifyImages judges it
 * (listedDigestCouldRun). A manifest or config that is gone (404) cannot be pulled, so it cannot
 * run. Any other failure to read propagates: nothing is passed over on a guess. `judged` keeps the
 * verdicts across one attach's reads of the index, since what a digest holds never changes.
 */
export async function runnableListedManifest(
  registry: Registry,
  repo: RepositoryRef,
  listed: readonly string[],
  judged: Map<string, boolean>,
): Promise<string | undefined> {
  for (const digest of listed) {
    let runnable = judged.get(digest);
    if (runnable === undefined) {
      // Gone (404): nothing to pull, so nothing runs.
      runnable = (await listedDigestCouldRun(registry, repo, digest)) ?? false;
      judged.set(digest, runnable);
    }
    if (runnable) return digest;
  }
  return undefined;
}
