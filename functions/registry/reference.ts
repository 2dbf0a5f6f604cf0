/**
 * Image references in the form Artifact Registry notifications use: `HOST/REPO:TAG`, `HOST/REPO@sha256:…`
 * or both (`HOST/REPO:TAG@sha256:…`). HOST is always present (it may carry a port); there is no Docker Hub
 * defaulting, because sigsentry never signs an image whose registry it had to guess.
 */
import { InvalidInputError } from '../errors.ts';
import { isDigest } from './digest.ts';

export interface RepositoryRef {
  /** Lower-case `hostname[:port]`. */
  readonly host: string;
  /** Repository path inside the registry, e.g. `project/repo/image`. */
  readonly repository: string;
}

export interface ImageReference extends RepositoryRef {
  readonly tag?: string;
  readonly digest?: string;
}

export interface DigestReference extends RepositoryRef {
  readonly digest: string;
  readonly tag?: string;
}

// distribution-spec "Pulling manifests": <name> and <reference> grammars.
const REPOSITORY = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
// A DNS name or IPv4 address, or a bracketed IPv6 address, with an optional port.
const HOST =
  /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?$/;
const MAX_REFERENCE = 4096;

export function isTag(value: string): boolean {
  return TAG.test(value);
}

export function isRepository(value: string): boolean {
  return value.length <= 255 && REPOSITORY.test(value);
}

export function isHost(value: string): boolean {
  return HOST.test(value);
}

export function parseImageReference(input: string): ImageReference {
  const fail = (why: string): never => {
    throw new InvalidInputError(`invalid image reference (${why}): ${JSON.stringify(input.slice(0, 300))}`, {
      reference: input.slice(0, 300),
    });
  };
  if (input.length === 0 || input.length > MAX_REFERENCE) fail('length');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) fail('digest');
  }
  const slash = rest.indexOf('/');
  if (slash <= 0) fail('no registry host');
  const host = rest.slice(0, slash).toLowerCase();
  if (!isHost(host)) fail('host');
  let repository = rest.slice(slash + 1);
  let tag: string | undefined;
  const colon = repository.lastIndexOf(':');
  if (colon >= 0) {
    tag = repository.slice(colon + 1);
    repository = repository.slice(0, colon);
    if (!isTag(tag)) fail('tag');
  }
  if (!isRepository(repository)) fail('repository');
  if (tag === undefined && digest === undefined) fail('neither tag nor digest');
  return {
    host,
    repository,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
  };
}

/** `HOST/REPO`, which is also what cosign puts in a payload's `docker-reference`. */
export function formatRepository(repo: RepositoryRef): string {
  return `${repo.host}/${repo.repository}`;
}

export function formatImageReference(ref: ImageReference): string {
  return `${formatRepository(ref)}${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest}`}`;
}

/** The reference as the registry API wants it in a URL path: the digest when there is one, else the tag. */
export function apiReference(ref: ImageReference): string {
  const value = ref.digest ?? ref.tag;
  if (value === undefined)
    throw new InvalidInputError('image reference has neither tag nor digest', { ...ref });
  return value;
}

export function withDigest(repo: RepositoryRef, digest: string): DigestReference {
  return { host: repo.host, repository: repo.repository, digest };
}
