/**
 * reverifyImages configuration, validated with zod (the rows of config/environment.ts). Either one
 * JSON document (SIGSENTRY_CONFIG, whose watch rules each bind their globs to the key signOnPush signs
 * them with) or the plain variables, which expect the same keys on every watched repository:
 *   SIGSENTRY_WATCH        comma-separated repository globs HOST/REPO/** whose every tag is checked
 *   KMS_KEY                comma-separated key versions (projects/…/cryptoKeyVersions/N) or gcpkms://…
 *   SIGSENTRY_PUBLIC_KEYS  PEM public keys expected besides the KMS keys (concatenated PEM blocks)
 *   REKOR_URL, REKOR_PUBLIC_KEY (PEM) or REKOR_PUBLIC_KEY_FILE: the log sigsentry signs into (no key:
 *                          a public-good log's key from the embedded trusted root)
 *   SIGSENTRY_WATCHLIST    JSON [{"image":"HOST/REPO:TAG","identity":"…","issuer":"…"}]
 *   SIGSENTRY_REVERIFY_CONCURRENCY  tags verified at once (default 32)
 *   SIGSENTRY_REVERIFY_STALE_AFTER_HOURS  hours without a verdict before `verification-stale` (default 24)
 *   SIGSENTRY_REGISTRY_REDIRECT_HOSTS  comma-separated hosts a watchlisted registry may redirect to or
 *                          name as its token realm (Docker Hub: auth.docker.io,production.cloudflare.docker.com)
 *   SIGSTORE_TUF_URL, SIGSTORE_TUF_ROOT  the TUF repository the watchlist's public-good trusted root is
 *                          refreshed from each pass, or none (read with SIGSENTRY_CONFIG too:
 *                          verify/public-good-root.ts)
 * In SIGSENTRY_CONFIG, the monitor's `indexOffset` for the document's log (its `monitor.logs` entry of
 * the same URL) is read too, with the monitor's meaning (monitoredIndexOffset).
 */
import { z } from 'zod';
import { logPublicKeyFromEnv } from '../config/log-key.ts';
import { rekorUrlFromEnv } from '../config/rekor-url.ts';
import { firstMatchingRule, withV1LogKey } from '../config/shared-document.ts';
import { KeyVersionNameSchema, WatchedRepositoriesSchema } from '../config/sign-config.ts';
import { InvalidInputError } from '../errors.ts';
import { isHost, isRepository, isTag } from '../registry/reference.ts';
import { type PublicGoodTuf, publicGoodTufFromEnv } from '../verify/public-good-root.ts';

/**
 * Why a watchlist image cannot be checked, if it cannot: refused when the configuration is read,
 * rather than skipped or failing every pass. HOST is told from a Docker Hub namespace the way
 * Docker tells them (a dot, a port or `localhost`), and sigsentry guesses no default registry.
 */
export function watchlistImageProblem(image: string): string | undefined {
  const slash = image.indexOf('/');
  const host = slash > 0 ? image.slice(0, slash).toLowerCase() : '';
  if (host === 'docker.io') {
    return `${image}: name Docker Hub images by their API host, index.docker.io/${image.slice(slash + 1)}, as cosign's signatures do`;
  }
  if (!host.includes('.') && !host.includes(':') && host !== 'localhost') {
    return `${image}: name the registry host, HOST/REPO:TAG or HOST/REPO (Docker Hub: index.docker.io/library/NAME:TAG)`;
  }
  if (image.includes('@')) {
    return `${image}: a watchlist image names a tag (HOST/REPO:TAG) or a whole repository (HOST/REPO), not a digest: reverifyImages follows what a tag points to`;
  }
  const rest = image.slice(slash + 1);
  const colon = rest.lastIndexOf(':');
  const repository = colon < 0 ? rest : rest.slice(0, colon);
  const tag = colon < 0 ? undefined : rest.slice(colon + 1);
  if (!isHost(host) || !isRepository(repository) || (tag !== undefined && !isTag(tag))) {
    return `${image}: not HOST/REPO:TAG or HOST/REPO`;
  }
  return undefined;
}

/**
 * Why a watchlist identity pattern cannot be used, or undefined. It must be anchored, `^…$`: an
 * unanchored pattern accepts every identity that merely contains a match (`chainguard-images/.*`
 * accepts `https://github.com/evil-chainguard-images/…`), as cosign's --certificate-identity-regexp
 * does. Written anchored, it means the same to cosign and here; here it is also matched whole
 * (watchlistIdentityPattern), so an alternation such as `^a|b$` cannot leave one end open.
 */
export function identityRegexpProblem(pattern: string): string | undefined {
  try {
    new RegExp(pattern);
  } catch (err) {
    return `identity ${JSON.stringify(pattern)} is not a regular expression: ${(err as Error).message}`;
  }
  // `$` escaped (`\$`) is a literal dollar sign, not an anchor: an odd run of backslashes before it.
  const trailingBackslashes = /(\\*)\$$/.exec(pattern)?.[1]?.length;
  if (!pattern.startsWith('^') || trailingBackslashes === undefined || trailingBackslashes % 2 === 1) {
    return `identity ${JSON.stringify(pattern)} must be anchored, ^…$: unanchored, it would accept any identity that contains a match`;
  }
  return undefined;
}

/** The identity pattern of a watchlist entry with identityRegexp, matched against the whole SAN. */
export function watchlistIdentityPattern(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})$`);
}

export const WatchlistEntrySchema = z
  .object({
    /** HOST/REPO:TAG, or HOST/REPO for every tag of the repository. */
    image: z
      .string()
      .min(1)
      .superRefine((image, ctx) => {
        const problem = watchlistImageProblem(image);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      }),
    /** The certificate identity (SAN) that must sign it; a regular expression when identityRegexp. */
    identity: z.string().min(1),
    identityRegexp: z.boolean().default(false),
    issuer: z.string().min(1),
    /** References the signature may name besides the image's own repository (a mirror's origin). */
    references: z.array(z.string()).default([]),
  })
  .superRefine((entry, ctx) => {
    const problem = entry.identityRegexp ? identityRegexpProblem(entry.identity) : undefined;
    if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['identity'], message: problem });
  });
export type WatchlistEntry = z.infer<typeof WatchlistEntrySchema>;

const LogSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('rekor-v1'),
    url: z.url(),
    publicKey: z.string().min(1),
    /**
     * Global log index of the active tree's first entry, for a log whose info lists no shards (one
     * that lists them gives it): the monitor's setting for this log, read from its section.
     */
    indexOffset: z.number().int().nonnegative().optional(),
  }),
  z.object({ kind: z.literal('none') }),
]);

/**
 * Watched repositories: a glob HOST/REPO/…, HOST literal (it is the registry the catalog is read
 * from), and the key signOnPush signs them with when the rule names one (SIGSENTRY_CONFIG). A
 * repository expects the key of the first rule matching it, as signOnPush picks it, and no other rule's.
 */
const WatchRuleSchema = z.object({
  repositories: WatchedRepositoriesSchema,
  key: KeyVersionNameSchema.optional(),
});
export type ReverifyWatchRule = z.infer<typeof WatchRuleSchema>;

export const ReverifyConfigSchema = z.object({
  project: z.string().min(1),
  /** In signOnPush's order: the first rule matching a repository gives its key. */
  watch: z.array(WatchRuleSchema).default([]),
  /** KMS key versions whose signatures are accepted on every watched repository (keys being rotated). */
  keys: z.array(z.string().min(1)).default([]),
  /** PEM public keys accepted on every watched repository. */
  publicKeys: z.array(z.string().min(1)).default([]),
  log: LogSchema,
  watchlist: z.array(WatchlistEntrySchema).default([]),
  concurrency: z.number().int().min(1).max(256).default(32),
  /** Hours a tag, repository or registry may fail pass after pass before it is alerted (staleness.ts). */
  staleAfterHours: z
    .number()
    .positive()
    .max(24 * 90)
    .default(24),
  /**
   * Hosts the registries may redirect to (blob storage) or send for tokens (a token realm), never
   * contacted on their own: `hostname[:port]`, exact match.
   */
  redirectHosts: z
    .array(
      z
        .string()
        .transform((h) => h.toLowerCase())
        .refine(isHost, { message: 'not a hostname[:port]' }),
    )
    .default([]),
  /**
   * Where the watchlist's public-good trusted root comes from: a TUF repository it is refreshed from
   * each pass, or `none` for the embedded one. From SIGSTORE_TUF_URL and SIGSTORE_TUF_ROOT, with
   * SIGSENTRY_CONFIG too (a deployment's network, like REKOR_PUBLIC_KEY_FILE, not its policy).
   */
  tuf: z.custom<PublicGoodTuf>(
    (v) => typeof v === 'object' && v !== null && typeof (v as { mirror?: unknown }).mirror === 'string',
  ),
});
export type ReverifyConfig = z.infer<typeof ReverifyConfigSchema>;

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function json(name: string, value: string): unknown {
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new InvalidInputError(`${name} is not JSON`, {}, err);
  }
}

/**
 * The PEM public keys of SIGSENTRY_PUBLIC_KEYS. Anything else in the value (an RSA PKCS#1 block, a
 * `gcpkms://` reference, a truncated key) is refused rather than dropped: a key dropped in silence
 * turns every image it signed `unsigned`.
 */
function pemBlocks(value: string | undefined): string[] {
  const text = value ?? '';
  const blocks = [...text.matchAll(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g)];
  // Blocks may be separated by commas (infra's extra_public_keys) and whitespace.
  const rest = blocks
    .reduce((left, m) => left.replace(m[0], ''), text)
    .replace(/[\s,]+/g, ' ')
    .trim();
  if (rest !== '') {
    throw new InvalidInputError(
      'SIGSENTRY_PUBLIC_KEYS holds something other than PEM public keys (-----BEGIN PUBLIC KEY-----)',
      { unread: rest.slice(0, 80) },
    );
  }
  return blocks.map((m) => `${m[0]}\n`);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/**
 * SIGSENTRY_CONFIG is one document for every function (infra gives each the same one), and
 * signOnPush reads its `watch` as rules `{repositories, key, …}`. reverifyImages reads each rule's
 * glob and key alike, so that a repository expects the key signOnPush signs it with; a plain glob
 * is a rule without a key. `keys` and `publicKeys` stay what they say: expected on every watched
 * repository. A v1 log without `publicKey` gets the key REKOR_PUBLIC_KEY or the public-good trusted
 * root gives it, as in the plain variables.
 */
function fromSharedDocument(doc: unknown, env: NodeJS.ProcessEnv): unknown {
  if (!isObject(doc)) return doc;
  const out: Record<string, unknown> = { ...doc };
  if (Array.isArray(doc['watch'])) {
    out['watch'] = doc['watch'].map((rule: unknown) =>
      typeof rule === 'string' ? { repositories: rule } : rule,
    );
  }
  const log = doc['log'];
  if (isObject(log) && log['kind'] === 'rekor-v2') {
    throw new InvalidInputError(
      'reverifyImages re-checks inclusion on Rekor v1 logs only (SIGSENTRY_CONFIG log)',
    );
  }
  if (log !== undefined) out['log'] = withIndexOffset(withV1LogKey(log, env), doc);
  return out;
}

/**
 * A log URL as the two settings are compared: scheme and host in lower case and the default port
 * dropped (WHATWG URL), the path as written, trailing slashes dropped.
 */
function sameLogUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`.replace(/\/+$/, '');
  } catch {
    return url.replace(/\/+$/, '');
  }
}

/**
 * The document's v1 log with the monitor's `indexOffset` for it (monitoredIndexOffset), and no other:
 * one written on the document's `log` is dropped, as the monitor drops it, so the two never disagree.
 */
function withIndexOffset(log: unknown, doc: Record<string, unknown>): unknown {
  if (!isObject(log) || log['kind'] !== 'rekor-v1' || typeof log['url'] !== 'string') return log;
  const { indexOffset: _ignored, ...rest } = log;
  const offset = monitoredIndexOffset(doc, log['url']);
  return offset === undefined ? rest : { ...rest, indexOffset: offset };
}

/**
 * The `indexOffset` of the monitor's entries (`monitor.logs`) for the v1 log at `url`: the global
 * log index of its active tree's first entry, for a log whose info lists no shards. The monitor
 * scans that log with it, and reverifyImages holds its inclusion proofs to the same numbering
 * (inclusion.ts); without it, reverifyImages infers the offset from the proofs a pass reads, which
 * catches a misplaced entry only beside another of the same tree. Read from the monitor's section,
 * not set twice: a second setting could disagree with the one the monitor scans with. Entries of one
 * URL naming two offsets are refused, as no offset is then known.
 */
function monitoredIndexOffset(doc: Record<string, unknown>, url: string): unknown {
  const monitor = doc['monitor'];
  const logs = isObject(monitor) ? monitor['logs'] : undefined;
  if (!Array.isArray(logs)) return undefined;
  const offsets = new Set(
    logs.flatMap((l: unknown) =>
      isObject(l) &&
      l['kind'] === 'rekor-v1' &&
      typeof l['url'] === 'string' &&
      sameLogUrl(l['url']) === sameLogUrl(url) &&
      l['indexOffset'] !== undefined
        ? [l['indexOffset']]
        : [],
    ),
  );
  if (offsets.size > 1) {
    throw new InvalidInputError(
      `SIGSENTRY_CONFIG: monitor.logs gives the log ${url} two indexOffsets (${[...offsets].map((o) => JSON.stringify(o)).join(', ')}); its entries have one numbering`,
    );
  }
  return [...offsets][0];
}

export function loadReverifyConfig(env: NodeJS.ProcessEnv): ReverifyConfig {
  let raw: unknown;
  if (env.SIGSENTRY_CONFIG) {
    raw = fromSharedDocument(json('SIGSENTRY_CONFIG', env.SIGSENTRY_CONFIG), env);
  } else {
    const rekor = rekorUrlFromEnv(env);
    if (rekor && rekor !== 'none' && env.REKOR_API === 'v2') {
      throw new InvalidInputError('reverifyImages re-checks inclusion on Rekor v1 logs only (REKOR_API=v2)');
    }
    raw = {
      project: env.GCP_PROJECT ?? env.GOOGLE_CLOUD_PROJECT,
      watch: list(env.SIGSENTRY_WATCH).map((repositories) => ({ repositories })),
      keys: list(env.KMS_KEY),
      publicKeys: pemBlocks(env.SIGSENTRY_PUBLIC_KEYS),
      log:
        !rekor || rekor === 'none'
          ? { kind: 'none' }
          : { kind: 'rekor-v1', url: rekor, publicKey: logPublicKeyFromEnv(env, rekor) },
      watchlist: env.SIGSENTRY_WATCHLIST ? json('SIGSENTRY_WATCHLIST', env.SIGSENTRY_WATCHLIST) : [],
      redirectHosts: list(env.SIGSENTRY_REGISTRY_REDIRECT_HOSTS),
      ...(env.SIGSENTRY_REVERIFY_CONCURRENCY
        ? { concurrency: Number(env.SIGSENTRY_REVERIFY_CONCURRENCY) }
        : {}),
      ...(env.SIGSENTRY_REVERIFY_STALE_AFTER_HOURS
        ? { staleAfterHours: Number(env.SIGSENTRY_REVERIFY_STALE_AFTER_HOURS) }
        : {}),
    };
  }
  const tuf = publicGoodTufFromEnv(env);
  const parsed = ReverifyConfigSchema.safeParse(isObject(raw) ? { ...raw, tuf } : raw);
  if (!parsed.success) {
    throw new InvalidInputError(`invalid reverifyImages configuration: ${z.prettifyError(parsed.error)}`);
  }
  const config = parsed.data;
  const keyless = config.watch.filter((rule) => rule.key === undefined);
  if (keyless.length > 0 && config.keys.length === 0 && config.publicKeys.length === 0) {
    throw new InvalidInputError(
      'watched repositories need an expected key: set KMS_KEY or SIGSENTRY_PUBLIC_KEYS (in SIGSENTRY_CONFIG, a key on each watch rule, or keys or publicKeys)',
      { repositories: keyless.map((rule) => rule.repositories) },
    );
  }
  if (config.watch.length === 0 && config.watchlist.length === 0) {
    throw new InvalidInputError('nothing to verify: set SIGSENTRY_WATCH and/or SIGSENTRY_WATCHLIST');
  }
  return config;
}

/** The KMS key versions and PEM public keys a watched repository's images must be signed with. */
export interface ExpectedKeyNames {
  keys: string[];
  publicKeys: string[];
}

/**
 * What a rule's repositories expect: the rule's own key, which signOnPush signs them with, and the
 * keys expected on every watched repository. Never another rule's key: it would pass images that
 * signOnPush never signs so.
 */
export function ruleExpectedKeys(config: ReverifyConfig, rule: ReverifyWatchRule): ExpectedKeyNames {
  return {
    keys: [...new Set([...(rule.key === undefined ? [] : [rule.key]), ...config.keys])],
    publicKeys: config.publicKeys,
  };
}

/** What a repository (HOST/REPO) expects: that of the first rule matching it; undefined if unwatched. */
export function expectedKeysFor(config: ReverifyConfig, repository: string): ExpectedKeyNames | undefined {
  const rule = firstMatchingRule(config.watch, repository);
  return rule === undefined ? undefined : ruleExpectedKeys(config, rule);
}
