/**
 * What a pass verifies: every tag of every watched repository (the registry's catalog and tag lists;
 * Artifact Registry serves the same distribution API), and the watchlist's third-party images.
 * Signature artifacts (`sha256-<hex>.sig`, the referrers index tag) are not images and are left out.
 */
import crypto from 'node:crypto';
import { matchesGlob } from '../config/glob.ts';
import { isRepository, parseImageReference } from '../registry/reference.ts';
import type { Registry } from '../registry/registry.ts';
import { isSignatureArtifactTag } from '../sign-on-push/signature-artifacts.ts';

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
}

function item(host: string, repository: string, tag: string, source: InventoryItem['source']): InventoryItem {
  return { ref: `${host}/${repository}:${tag}`, host, repository, tag, source };
}

async function imageTags(registry: Registry, host: string, repository: string): Promise<string[]> {
  return (await registry.listTags({ host, repository })).filter((t) => !isSignatureArtifactTag(t));
}

export async function buildInventory(registry: Registry, spec: InventorySpec): Promise<InventoryItem[]> {
  const items = new Map<string, InventoryItem>();
  const hosts = [...new Set(spec.watch.map((glob) => glob.split('/')[0]!))];
  for (const host of hosts) {
    const globs = spec.watch.filter((glob) => glob.startsWith(`${host}/`));
    const repositories = (await registry.catalog(host)).filter((r) =>
      globs.some((glob) => matchesGlob(glob, `${host}/${r}`)),
    );
    for (const repository of repositories) {
      for (const tag of await imageTags(registry, host, repository)) {
        const it = item(host, repository, tag, 'owned');
        items.set(it.ref, it);
      }
    }
  }
  for (const [index, entry] of spec.watchlist.entries()) {
    const slash = entry.image.indexOf('/');
    const whole =
      slash > 0 && !entry.image.slice(slash).includes(':') && isRepository(entry.image.slice(slash + 1));
    if (whole) {
      const host = entry.image.slice(0, slash);
      const repository = entry.image.slice(slash + 1);
      for (const tag of await imageTags(registry, host, repository)) {
        const it = item(host, repository, tag, index);
        items.set(it.ref, it);
      }
    } else {
      const ref = parseImageReference(entry.image);
      // A digest-only watchlist image is refused when the configuration is read (config.ts).
      if (ref.tag === undefined) continue;
      const it = item(ref.host, ref.repository, ref.tag, index);
      items.set(it.ref, it);
    }
  }
  return [...items.values()];
}

/** Whether a tag belongs to shard `index` of `count` (a stable hash, so shards do not overlap). */
export function inShard(ref: string, shard: { index: number; count: number } | undefined): boolean {
  if (shard === undefined || shard.count <= 1) return true;
  const h = crypto.createHash('sha256').update(ref).digest().readUInt32BE(0);
  return h % shard.count === shard.index;
}
