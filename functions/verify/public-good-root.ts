/**
 * The Sigstore public-good trusted root a re-verification pass judges watchlist (keyless) images
 * with, refreshed through TUF once per pass from SIGSTORE_TUF_URL (default the public-good
 * repository, as cosign and sigstore-js default), so that keys and logs Sigstore adds are trusted,
 * and those it withdraws are not, without upgrading @sigstore/tuf. `none`: the root embedded in
 * @sigstore/tuf, no network, as before.
 *
 * The metadata is kept per mirror under os.tmpdir() (Cloud Run's /tmp), so each refresh fetches
 * little (the next root version, which answers 404, and timestamp.json; snapshot, targets and
 * trusted_root.json only when they changed) and rollbacks are caught against what this instance
 * already trusted, and, with a `floor` (Firestore in production), against the newest versions any
 * instance trusted: a fresh instance starts with an empty /tmp. A refresh that fails (the mirror unreachable, a signature or hash that does not
 * verify, expired metadata, a target that is not a usable trusted root) is a PublicGoodRootError
 * naming the mirror and why: nothing the mirror said is used, and nothing older stands in for it
 * (reverify/core.ts then judges no watchlist tag that pass).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import type { TUFOptions } from '@sigstore/tuf';
import { InvalidInputError, SigsentryError, urlForLog } from '../errors.ts';
import { boundText, MAX_REASON_CHARS } from '../logging/bounded.ts';
import { describeValue, errorMessage } from '../logging/describe.ts';
import type { Logger } from '../logging/logger.ts';
import { embeddedPublicGoodTrustedRoot } from '../tlog/trust.ts';
import { rolledBack, TUF_ROLES, type TufVersionFloor, type TufVersions } from './tuf-version-floor.ts';

/** The public-good TUF repository: the only mirror @sigstore/tuf carries an initial root.json for. */
export const DEFAULT_TUF_URL = 'https://tuf-repo-cdn.sigstore.dev';

/** Where the root comes from: a TUF mirror (and the root.json to start from), or `none`. */
export type PublicGoodTuf = { mirror: 'none' } | { mirror: string; initialRoot?: string };

/**
 * Why a refresh failed. `unreachable`: the mirror did not answer, or not with the file (an outage,
 * a wrong URL); `expired`: metadata past its expiry (a stale or frozen mirror); `refused`: metadata
 * or a target that does not verify (a signature, a threshold, a hash, a version rolled back);
 * `malformed`: not metadata or not a trusted root; `no-initial-root`: nothing to start from;
 * `cache`: the instance could not keep the metadata (its /tmp full, read-only or not a directory).
 */
export type RefreshFailure =
  | 'unreachable'
  | 'expired'
  | 'refused'
  | 'malformed'
  | 'no-initial-root'
  | 'cache';

export class PublicGoodRootError extends SigsentryError {
  readonly mirror: string;
  readonly reason: RefreshFailure;
  constructor(mirror: string, reason: RefreshFailure, detail: string, cause?: unknown) {
    super(
      'PUBLIC_GOOD_ROOT_UNAVAILABLE',
      `the Sigstore public-good trusted root could not be refreshed through TUF from ${mirror} (${reason}: ${detail})`,
      { retryable: true, cause, details: { dependency: 'sigstore-tuf', mirror, reason } },
    );
    this.mirror = mirror;
    this.reason = reason;
  }
}

/**
 * SIGSTORE_TUF_URL and SIGSTORE_TUF_ROOT as reverifyImages reads them. Unset or empty: the
 * public-good repository. `none` exactly: the embedded root. Else an http(s) base URL (TUF metadata
 * is signed, so plain http is no weaker), alone. A mirror other than the public-good repository
 * needs its root.json to start from (SIGSTORE_TUF_ROOT, the document itself): @sigstore/tuf has
 * none for it, and every pass would fail.
 */
export function publicGoodTufFromEnv(env: NodeJS.ProcessEnv): PublicGoodTuf {
  const value = env.SIGSTORE_TUF_URL;
  const root = env.SIGSTORE_TUF_ROOT === '' ? undefined : env.SIGSTORE_TUF_ROOT;
  if (value === 'none') {
    if (root !== undefined) {
      throw new InvalidInputError(
        'SIGSTORE_TUF_ROOT is set with SIGSTORE_TUF_URL=none: the embedded root is used, there is no TUF repository to start from it',
        { variable: 'SIGSTORE_TUF_ROOT' },
      );
    }
    return { mirror: 'none' };
  }
  let mirror = DEFAULT_TUF_URL;
  if (value !== undefined && value !== '') {
    if (value.trim().toLowerCase() === 'none') {
      throw new InvalidInputError(
        `SIGSTORE_TUF_URL is ${JSON.stringify(value)}: to use the embedded trusted root write none, in lower case with nothing around it`,
        { variable: 'SIGSTORE_TUF_URL' },
      );
    }
    const url = URL.parse(value);
    if (
      url === null ||
      value.trim() !== value ||
      (url.protocol !== 'https:' && url.protocol !== 'http:') ||
      url.host === '' ||
      url.username !== '' ||
      url.password !== '' ||
      url.search !== '' ||
      url.hash !== ''
    ) {
      throw new InvalidInputError(
        `SIGSTORE_TUF_URL is ${JSON.stringify(urlForLog(value))}: give a TUF repository's http(s) base URL alone (default ${DEFAULT_TUF_URL}), or none`,
        { variable: 'SIGSTORE_TUF_URL' },
      );
    }
    // @sigstore/tuf finds its initial root by the exact URL: `https://tuf-repo-cdn.sigstore.dev/` must be it.
    mirror = value.replace(/\/+$/, '');
  }
  if (root !== undefined) {
    let signed: unknown;
    try {
      signed = (JSON.parse(root) as { signed?: { _type?: unknown } }).signed?._type;
    } catch {
      signed = undefined;
    }
    if (signed !== 'root') {
      throw new InvalidInputError(
        "SIGSTORE_TUF_ROOT is not a TUF root.json document (JSON whose signed._type is root): give the mirror's root.json itself",
        { variable: 'SIGSTORE_TUF_ROOT' },
      );
    }
    return { mirror, initialRoot: root };
  }
  if (mirror !== DEFAULT_TUF_URL) {
    throw new InvalidInputError(
      `SIGSTORE_TUF_URL is ${mirror}, a TUF repository @sigstore/tuf has no initial root for: give its root.json in SIGSTORE_TUF_ROOT`,
      { variable: 'SIGSTORE_TUF_URL' },
    );
  }
  return { mirror };
}

export interface PublicGoodRootOptions {
  tuf: PublicGoodTuf;
  logger: Logger;
  /** Where each mirror's metadata is kept; default `os.tmpdir()/sigsentry-tuf`. */
  cacheDir?: string;
  /** @sigstore/tuf's getTrustedRoot (a test may count or fail its calls). */
  fetchTrustedRoot?: (options: TUFOptions) => Promise<TrustedRoot>;
  /** Per request: attempts after the first (default 2) and timeout (default 5 s), as @sigstore/tuf's. */
  retries?: number;
  timeoutMs?: number;
  /**
   * The highest metadata versions instances have trusted from the mirror (Firestore in production,
   * verify/tuf-version-floor.ts): a refresh that trusts older ones is a rollback, refused. Absent:
   * rollback is caught against this instance's own cache only.
   */
  floor?: TufVersionFloor;
}

export interface PublicGoodRootSource {
  /** The mirror, or `none`. */
  readonly mirror: string;
  /**
   * The root this pass judges keyless signatures with: refreshed through TUF now (passes running at
   * once in an instance share one refresh), or the embedded one with `none`. Rejects with a
   * PublicGoodRootError, after logging why, when it cannot be refreshed.
   */
  forPass(): Promise<TrustedRoot>;
}

/** Network failures as undici and Node name them (typed fields, never text the mirror wrote). */
const NETWORK_CODES =
  /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EPIPE|UND_ERR_[A-Z_]+)$/;
/**
 * tuf-js flattens a snapshot's or targets' download error into a RuntimeError's message:
 * `Unable to load … error ${error}`. Only its own prefix followed by what a failed download reads
 * as (fetch's "TypeError: fetch failed", a timeout's name, tuf-js's "Error: Failed to download") is
 * taken as the mirror being unreachable: text after it may be the mirror's, and must not decide.
 */
const FLATTENED_DOWNLOAD_FAILURE =
  /^Unable to load (snapshot metadata|targets) error (TypeError: fetch failed|TimeoutError: |AbortError: |Error: Failed to download$)/;

/** tuf-js's own words for an expired snapshot or targets, flattened as above (the whole message). */
const FLATTENED_EXPIRY =
  /^Unable to load (snapshot metadata|targets) error Error: (snapshot|targets)\.json is expired$/;

interface Cause {
  /** The error's `name` and its class's: tuf-js's classes keep `Error` as their name. */
  names: string[];
  message: string;
  code?: unknown;
  statusCode?: unknown;
  syscall?: unknown;
}

/** An error and its causes, outermost first. */
function causes(err: unknown): Cause[] {
  const out: Cause[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    if (!(e instanceof Error)) {
      // Anything thrown: described, never coerced (String() throws on a value without a usable toString).
      out.push({ names: [typeof e], message: describeValue(e, Number.MAX_SAFE_INTEGER) });
      break;
    }
    const { code, statusCode, syscall } = e as { code?: unknown; statusCode?: unknown; syscall?: unknown };
    out.push({ names: [e.name, e.constructor.name], message: e.message, code, statusCode, syscall });
    e = e.cause;
  }
  return out;
}

const named = (c: Cause, ...names: string[]) => c.names.some((n) => names.includes(n));

/**
 * Why a refresh failed, from the error @sigstore/tuf threw (a TUFError whose cause is tuf-js's) or
 * the file system's, by the errors' types and codes. A failure the mirror could have caused on
 * purpose is never read as an outage (only a WARNING) from text it wrote: anything not known to be
 * unreachable, expired, local or malformed is `refused`.
 */
export function refreshFailureOf(err: unknown): RefreshFailure {
  const chain = causes(err);
  if (chain.some((c) => c.code === 'TUF_INIT_CACHE_ERROR')) return 'no-initial-root';
  if (chain.some((c) => named(c, 'ExpiredMetadataError') || FLATTENED_EXPIRY.test(c.message)))
    return 'expired';
  // More bytes than the metadata allows: the mirror's doing, not an outage.
  if (chain.some((c) => named(c, 'DownloadLengthMismatchError'))) return 'refused';
  const network = (c: Cause) => typeof c.code === 'string' && NETWORK_CODES.test(c.code);
  if (
    chain.some(
      (c) =>
        typeof c.statusCode === 'number' ||
        named(c, 'TimeoutError', 'AbortError') ||
        network(c) ||
        FLATTENED_DOWNLOAD_FAILURE.test(c.message),
    )
  ) {
    return 'unreachable';
  }
  // The instance's own /tmp (full, read-only, not a directory): nothing the mirror said.
  if (chain.some((c) => typeof c.syscall === 'string' && !network(c))) return 'cache';
  if (chain.some((c) => named(c, 'SyntaxError'))) return 'malformed';
  return 'refused';
}

/**
 * What keyless verification needs of a root: a transparency log and a certificate authority. A
 * target signed as trusted_root.json that has neither would make every watchlist signature invalid
 * (a false alarm on every image): refused as malformed rather than judged with.
 */
function usableRootProblem(root: TrustedRoot): string | undefined {
  if (root.tlogs.length === 0) return 'trusted_root.json lists no transparency log';
  if (root.certificateAuthorities.length === 0) return 'trusted_root.json lists no certificate authority';
  return undefined;
}

/**
 * The versions of the metadata @sigstore/tuf keeps for `mirror` under `cachePath` (in a directory
 * it names after the mirror's host and path), as TUF verified them.
 */
function trustedVersions(cachePath: string, mirror: string): TufVersions {
  const url = new URL(mirror);
  const dir = path.join(cachePath, encodeURIComponent(url.host + url.pathname.replace(/\/$/, '')));
  const versions = {} as TufVersions;
  for (const role of TUF_ROLES) {
    const file = path.join(dir, `${role}.json`);
    const version = (JSON.parse(fs.readFileSync(file, 'utf8')) as { signed?: { version?: unknown } }).signed
      ?.version;
    if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) {
      throw new Error(`${file} holds no metadata version`);
    }
    versions[role] = version;
  }
  return versions;
}

/**
 * Where a mirror's metadata is kept: under `cacheDir` (default `os.tmpdir()/sigsentry-tuf`), per
 * initial root too, since a cache begun from another root.json (another repository once served on
 * the same port) is not this one's; @sigstore/tuf adds a directory per mirror under it.
 */
export function publicGoodRootCachePath(tuf: PublicGoodTuf, cacheDir?: string): string {
  const initialRoot = 'initialRoot' in tuf ? tuf.initialRoot : undefined;
  const anchor =
    initialRoot === undefined
      ? 'seed'
      : crypto.createHash('sha256').update(initialRoot).digest('hex').slice(0, 16);
  return path.join(cacheDir ?? path.join(os.tmpdir(), 'sigsentry-tuf'), anchor);
}

export function publicGoodRootSource(options: PublicGoodRootOptions): PublicGoodRootSource {
  const { tuf, logger } = options;
  if (tuf.mirror === 'none') {
    let embedded: TrustedRoot | undefined;
    return {
      mirror: 'none',
      forPass: async () => {
        embedded ??= embeddedPublicGoodTrustedRoot();
        return embedded;
      },
    };
  }
  const mirror = tuf.mirror;
  const initialRoot = 'initialRoot' in tuf ? tuf.initialRoot : undefined;
  const cachePath = publicGoodRootCachePath(tuf, options.cacheDir);
  // Loaded on the first refresh: a function without a watchlist (every other function) never pays for tuf-js.
  const fetchTrustedRoot =
    options.fetchTrustedRoot ?? (async (o: TUFOptions) => (await import('@sigstore/tuf')).getTrustedRoot(o));
  let last: { json: string; root: TrustedRoot } | undefined;
  let inFlight: Promise<TrustedRoot> | undefined;

  const refresh = async (): Promise<TrustedRoot> => {
    let root: TrustedRoot;
    try {
      let rootPath: string | undefined;
      if (initialRoot !== undefined) {
        fs.mkdirSync(cachePath, { recursive: true });
        rootPath = path.join(cachePath, 'initial-root.json');
        if (!fs.existsSync(rootPath)) fs.writeFileSync(rootPath, initialRoot);
      }
      root = await fetchTrustedRoot({
        mirrorURL: mirror,
        cachePath,
        ...(rootPath === undefined ? {} : { rootPath }),
        forceCache: false,
        retry: { retries: options.retries ?? 2 },
        timeout: options.timeoutMs ?? 5_000,
      });
    } catch (err) {
      const detail = causes(err)
        .map((c) => c.message)
        .filter((m, i, all) => m !== '' && all.indexOf(m) === i)
        .join(': ');
      throw new PublicGoodRootError(mirror, refreshFailureOf(err), boundText(detail, MAX_REASON_CHARS), err);
    }
    const problem = usableRootProblem(root);
    if (problem !== undefined) throw new PublicGoodRootError(mirror, 'malformed', problem);
    if (options.floor !== undefined) await holdToFloor(options.floor);
    // The same root as last pass is the same object, so its trust material is built once.
    const json = JSON.stringify(TrustedRoot.toJSON(root));
    if (last?.json !== json) last = { json, root };
    return last.root;
  };

  /**
   * Refuses what this refresh trusted when another instance trusted newer versions of the mirror
   * (a rollback its empty cache could not see), and raises the floor otherwise. The versions are
   * read from the metadata @sigstore/tuf kept, which TUF verified.
   */
  const holdToFloor = async (floor: TufVersionFloor): Promise<void> => {
    let trusted: TufVersions;
    let highest: TufVersions | undefined;
    try {
      trusted = trustedVersions(cachePath, mirror);
      highest = await floor.highest(mirror);
    } catch (err) {
      throw new PublicGoodRootError(mirror, 'cache', (err as Error).message, err);
    }
    const back = rolledBack(trusted, highest);
    if (back.length > 0) throw new PublicGoodRootError(mirror, 'refused', `a rollback: ${back.join('; ')}`);
    try {
      await floor.raise(mirror, trusted);
    } catch (err) {
      // The root is verified and no older than any trusted before; only the next check is weaker.
      logger.error(`the TUF versions trusted from ${mirror} could not be recorded`, { mirror, error: err });
    }
  };

  return {
    mirror,
    forPass: () => {
      inFlight ??= refresh()
        .catch((err: unknown) => {
          const failure = err instanceof PublicGoodRootError ? err : undefined;
          logger.log(
            failure?.reason === 'unreachable' ? 'WARNING' : 'ERROR',
            `${errorMessage(err)}; watchlist images are not judged this pass, their last verdicts stand`,
            { mirror, reason: failure?.reason, error: err },
          );
          throw err;
        })
        .finally(() => {
          inFlight = undefined;
        });
      return inFlight;
    },
  };
}
