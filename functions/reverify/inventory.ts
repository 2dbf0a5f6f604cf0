/**
 * What a pass verifies: every tag of every watched repository (the registry's catalog and tag lists;
 * Artifact Registry serves the same distribution API), and the watchlist's third-party images.
 * Every tag is listed, those shaped like a signature artifact's (`sha256-<hex>[.sig|.att|.sbom]`) too:
 * the shape is no evidence, and a runnable image under such a tag must be verified like any other.
 * The pass reads those tags' manifests and leaves out the ones that are artifacts (core.ts).
 */
import crypto from 'node:crypto';
import { matchesGlob } from '../config/glob.ts';
import { errorMessage } from '../logging/describe.ts';
import { RegistryNotFoundError } from '../registry/errors.ts';
import { isRepository, parseImageReference } from '../registry/reference.ts';
import type { Registry } from '../registry/registry.ts';

export interface InventoryItem {
  /** HOST/REPO:TAG */
  ref: string;
  host: string;
  repository: string;
  tag: string;
  /** 'owned' (a watched repository, checked against sigsentry's keys) or the watchlist entry's index. */
  source: 'owned' | number;
}

export interface InventorySpec {
  watch: readonly string[];
  watchlist: ReadonlyArray<{ image: string }>;
  /**
   * The tags of a repository (HOST/REPO) that have a recorded verdict, at most `limit`: re-checked
   * by name when its tag list cannot be read (an outage, or a list flooded past the client's
   * limits), so a tag moved meanwhile is still judged. The listing stays a failure of the pass.
   */
  recordedTags?: (repository: string, limit: number) => Promise<string[]>;
  /** The same for every repository of a host (HOST), when the host's catalog cannot be read. */
  recordedTagsOfHost?: (host: string, limit: number) => Promise<string[]>;
}

/**
 * Recorded tags re-checked by name for one failed listing: as many as a list may hold (the registry
 * client's limit), so that tags recorded under names sorting first cannot crowd out the one that
 * moved.
 */
export const RECORDED_TAGS_LIMIT = 100_000;

/**
 * A host whose catalog, or a repository whose tag list, could not be read ('listing'); or a watch
 * glob its host's catalog lists no repository for ('watch-rule').
 */
export interface ListingFailure {
  /** HOST for a catalog, HOST/REPO for a tag list, the glob for a watch rule. */
  subject: string;
  kind: 'listing' | 'watch-rule';
  message: string;
  error: unknown;
  /** Tags with a recorded verdict re-checked by name in place of the listing (a 'listing' only). */
  rechecked?: number;
}

export interface Inventory {
  items: InventoryItem[];
  /** What could not be listed: its tags are not in `items`, and their recorded verdicts stand. */
  failures: ListingFailure[];
  /** What was listed: each HOST whose catalog and each HOST/REPO whose tags were read. */
  listed: string[];
}

function item(host: string, repository: string, tag: string, source: InventoryItem['source']): InventoryItem {
  return { ref: `${host}/${repository}:${tag}`, host, repository, tag, source };
}

function failure(what: string, subject: string, error: unknown): ListingFailure {
  const reason = errorMessage(error);
  return { subject, kind: 'listing', message: `could not list the ${what} of ${subject}: ${reason}`, error };
}

/**
 * A watch glob the host's catalog lists nothing for. Nothing tells a registry that lists only what
 * the caller may see from one with nothing pushed there, so it is a failure every pass it lasts.
 */
function unmatched(glob: string, host: string, catalogSize: number): ListingFailure {
  const message =
    `watch rule ${glob} matches no repository in the catalog of ${host} (${catalogSize} listed): ` +
    'its repositories are not verified. Likely causes: the registry lists only what the caller may see ' +
    '(Artifact Registry lists nothing without resourcemanager.projects.get on the project, e.g. ' +
    'roles/browser), nothing has been pushed under it yet, or a typo in the glob';
  return { subject: glob, kind: 'watch-rule', message, error: undefined };
}

/** The repository a watchlist entry names whole (HOST/REPO, no tag nor digest), if it names one. */
function wholeRepository(image: string): { host: string; repository: string } | undefined {
  const slash = image.indexOf('/');
  const whole = slash > 0 && !image.slice(slash).includes(':') && isRepository(image.slice(slash + 1));
  return whole ? { host: image.slice(0, slash), repository: image.slice(slash + 1) } : undefined;
}

/**
 * Re-checks by name the recorded tags in place of a listing that failed, and says so in its
 * failure: how many, or why none (the store could not be read; then the listing's failure stands
 * alone, an error of the pass and `verification-stale` once it lasts).
 */
async function recheckRecorded(
  failed: ListingFailure,
  read: ((scope: string, limit: number) => Promise<string[]>) | undefined,
  add: (ref: string) => boolean,
): Promise<ListingFailure> {
  if (read === undefined) return failed;
  let refs: string[];
  try {
    refs = await read(failed.subject, RECORDED_TAGS_LIMIT);
  } catch (err) {
    const reason = errorMessage(err);
    return { ...failed, message: `${failed.message}; no recorded tag re-checked by name: ${reason}` };
  }
  const added = refs.filter(add).length;
  const capped = refs.length >= RECORDED_TAGS_LIMIT ? ` (the first ${RECORDED_TAGS_LIMIT} recorded)` : '';
  return {
    ...failed,
    message: `${failed.message}; ${added} recorded tags re-checked by name${capped}`,
    rechecked: added,
  };
}

/**
 * Every tag to verify. A host or repository that cannot be listed (a 404 for a repository deleted, or
 * one whose first push is still in flight; an outage) is a failure of its own, not of the pass: the
 * rest of the inventory is still verified, and the tags it has verdicts for are re-checked by name.
 * So is a watch glob its host's catalog lists no repository for: a catalog that leaves out what the
 * caller may not see at project level (Artifact Registry's) or a typo would otherwise have its
 * repositories verified by no pass, in silence.
 */
export async function buildInventory(registry: Registry, spec: InventorySpec): Promise<Inventory> {
  const items = new Map<string, InventoryItem>();
  const failures: ListingFailure[] = [];
  const listed: string[] = [];
  const addTags = async (host: string, repository: string, source: InventoryItem['source']) => {
    let tags: string[];
    try {
      tags = await registry.listTags({ host, repository });
    } catch (err) {
      const failed = failure('tags', `${host}/${repository}`, err);
      // A repository the registry no longer has holds no tag to pull: nothing to re-check.
      if (err instanceof RegistryNotFoundError) {
        failures.push(failed);
        return;
      }
      const add = (ref: string) => {
        const it = item(host, repository, ref.slice(host.length + repository.length + 2), source);
        items.set(it.ref, it);
        return true;
      };
      failures.push(await recheckRecorded(failed, spec.recordedTags, add));
      return;
    }
    listed.push(`${host}/${repository}`);
    for (const tag of tags) {
      const it = item(host, repository, tag, source);
      items.set(it.ref, it);
    }
  };
  const hosts = [...new Set(spec.watch.map((glob) => glob.split('/')[0]!))];
  for (const host of hosts) {
    const globs = [...new Set(spec.watch.filter((glob) => glob.startsWith(`${host}/`)))];
    let catalog: string[];
    try {
      catalog = await registry.catalog(host);
    } catch (err) {
      // The watched repositories are unknown, but the tags recorded under a watched one are not.
      const add = (ref: string) => {
        const repository = repositoryOf(ref).slice(host.length + 1);
        if (!globs.some((glob) => matchesGlob(glob, `${host}/${repository}`))) return false;
        const it = item(host, repository, ref.slice(host.length + repository.length + 2), 'owned');
        items.set(it.ref, it);
        return true;
      };
      failures.push(await recheckRecorded(failure('repositories', host, err), spec.recordedTagsOfHost, add));
      continue;
    }
    listed.push(host);
    const repositories = catalog.filter((r) => globs.some((glob) => matchesGlob(glob, `${host}/${r}`)));
    for (const glob of globs) {
      if (!repositories.some((r) => matchesGlob(glob, `${host}/${r}`))) {
        failures.push(unmatched(glob, host, catalog.length));
      }
    }
    for (const repository of repositories) await addTags(host, repository, 'owned');
  }
  for (const [index, entry] of spec.watchlist.entries()) {
    const whole = wholeRepository(entry.image);
    if (whole) {
      await addTags(whole.host, whole.repository, index);
    } else {
      const ref = parseImageReference(entry.image);
      // A digest-only watchlist image is refused when the configuration is read (config.ts).
      if (ref.tag === undefined) continue;
      const it = item(ref.host, ref.repository, ref.tag, index);
      items.set(it.ref, it);
    }
  }
  return { items: [...items.values()], failures, listed };
}

/** HOST/REPO of HOST/REPO:TAG (a tag has no ':', a host's port comes before the first '/'). */
export function repositoryOf(ref: string): string {
  return ref.slice(0, ref.lastIndexOf(':'));
}

/**
 * Which policy a tag (HOST/REPO:TAG) is verified under, as buildInventory assigns it: the last
 * watchlist entry naming its repository whole or the tag itself, else 'owned' for a watched
 * repository; undefined when the spec does not watch it.
 */
export function sourceOf(spec: InventorySpec, ref: string): InventoryItem['source'] | undefined {
  const repository = repositoryOf(ref);
  for (let index = spec.watchlist.length - 1; index >= 0; index--) {
    const image = spec.watchlist[index]!.image;
    const whole = wholeRepository(image);
    if (whole ? `${whole.host}/${whole.repository}` === repository : imageRef(image) === ref) return index;
  }
  return spec.watch.some((glob) => matchesGlob(glob, repository)) ? 'owned' : undefined;
}

function imageRef(image: string): string | undefined {
  const ref = parseImageReference(image);
  return ref.tag === undefined ? undefined : `${ref.host}/${ref.repository}:${ref.tag}`;
}

/**
 * Whether the spec watches a subject at all: a tag (HOST/REPO:TAG) of a watched or watchlisted
 * repository or a watchlisted tag, a host (HOST) a watch glob lists, a repository (HOST/REPO) a
 * glob matches or the watchlist names whole, a watch rule (its glob) still watched. What it does not
 * cover has left the configuration.
 */
export function inventoryCovers(
  spec: InventorySpec,
  subject: { subject: string; kind: 'tag' | 'listing' | 'watch-rule' },
): boolean {
  const { subject: s, kind } = subject;
  if (kind === 'tag') return sourceOf(spec, s) !== undefined;
  if (kind === 'watch-rule') return spec.watch.includes(s);
  if (!s.includes('/')) return spec.watch.some((glob) => glob.split('/')[0] === s);
  if (spec.watch.some((glob) => matchesGlob(glob, s))) return true;
  return spec.watchlist.some(({ image }) => {
    const whole = wholeRepository(image);
    return whole !== undefined && `${whole.host}/${whole.repository}` === s;
  });
}

/** Whether a tag belongs to shard `index` of `count` (a stable hash, so shards do not overlap). */
export function inShard(ref: string, shard: { index: number; count: number } | undefined): boolean {
  if (shard === undefined || shard.count <= 1) return true;
  const h = crypto.createHash('sha256').update(ref).digest().readUInt32BE(0);
  return h % shard.count === shard.index;
}
