/**
 * signOnPush configuration, validated with zod. It comes from one JSON document
 * (SIGSENTRY_CONFIG) or, for the common single-key case, from plain variables:
 *   SIGSENTRY_WATCH   comma-separated repository globs (HOST/REPO/**)
 *   KMS_KEY           projects/…/locations/…/keyRings/…/cryptoKeys/…/cryptoKeyVersions/N
 *   REKOR_URL         a Rekor v1 URL, or `none` (exactly; unset or empty: none; rekor-url.ts)
 *   SIGSENTRY_FORMATS comma-separated: bundle, cosign (default both)
 */
import { z } from 'zod';
import { InvalidInputError } from '../errors.ts';
import { isHost, isRepository } from '../registry/reference.ts';
import { rekorUrlFromEnv } from './rekor-url.ts';
import { firstMatchingRule } from './shared-document.ts';

/**
 * A KMS key version's full resource name. KMS numbers versions from 1 and writes them without
 * leading zeros, so `/0` and `/01` name no version. The one rule for names: the configuration
 * refuses at load what the KMS signer (signing/kms-signer.ts) would refuse after claiming a push.
 */
export const KMS_KEY_VERSION =
  /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+\/cryptoKeyVersions\/[1-9][0-9]*$/;

/** Why `name` is not a usable key version name, or undefined. */
export function keyVersionNameProblem(name: string): string | undefined {
  if (KMS_KEY_VERSION.test(name)) return undefined;
  return `key ${JSON.stringify(name)} must be a full KMS key version name, projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N with N a version number from 1, no leading zeros`;
}

export const SignatureFormatSchema = z.enum(['bundle', 'cosign']);
export type SignatureFormat = z.infer<typeof SignatureFormatSchema>;

/** The metacharacters of glob.ts (`*`, `**`, `?`); everything else in a glob is literal. */
const GLOB_METACHARACTERS = /[*?]/;

/** The registry host a watch rule names: its first segment, literal (checked when loaded). */
export function watchedHost(rule: Pick<WatchRule, 'repositories'>): string {
  return rule.repositories.split('/')[0]!;
}

/**
 * Why a watch rule can never match a push, or undefined. Matching is literal and case-sensitive
 * against references as Artifact Registry writes them (a lower-case host without scheme or default
 * port, a lower-case repository path), so a rule written otherwise would leave every push of its
 * repositories skipped as not watched, with INFO lines only. The host is also the registry
 * client's allowlist, so a wildcard there would match through the glob yet refuse every push
 * (with a HIGH alert) and allow no host at all.
 */
export function watchRuleProblem(repositories: string): string | undefined {
  const rule = `watch rule "${repositories}"`;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(repositories)) {
    return `${rule}: write it without a scheme, as HOST/REPO/** (image references name no scheme)`;
  }
  const host = watchedHost({ repositories });
  if (GLOB_METACHARACTERS.test(host)) {
    return `${rule}: the host "${host}" must be literal (wildcards are allowed only after HOST/)`;
  }
  if (!isHost(host)) {
    return `${rule}: the host "${host}" is not one image references name (a lower-case DNS name or IP address, an optional port)`;
  }
  if (/:(443|80)$/.test(host)) {
    return `${rule}: the host "${host}" carries its scheme's default port, which image references leave out; write "${host.replace(/:(443|80)$/, '')}"`;
  }
  const path = repositories.slice(host.length + 1);
  // Each wildcard stands for at least one character of a path component (`*` and `?` within one,
  // `**` across them), so the path with wildcards replaced by a letter must be a repository name.
  if (!repositories.includes('/') || !isRepository(path.replace(/[*?]/g, 'a'))) {
    return (
      `${rule}: the repository part "${path}" is not a repository path as the distribution spec names ` +
      'them (lower-case a-z and 0-9, components joined by . _ __ or -, separated by /), with * ? and ** wildcards'
    );
  }
  return undefined;
}

/**
 * A watch rule's repository glob: HOST/REPO with a literal, lower-case HOST, a lower-case REPO
 * path, `*` within a segment, `**` across.
 */
export const WatchedRepositoriesSchema = z
  .string()
  .min(1)
  .superRefine((repositories, ctx) => {
    const problem = watchRuleProblem(repositories);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });

/** A watch rule's key: a KMS key version's full resource name. */
export const KeyVersionNameSchema = z.string().superRefine((key, ctx) => {
  const problem = keyVersionNameProblem(key);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

const WatchRuleSchema = z.object({
  repositories: WatchedRepositoriesSchema,
  key: KeyVersionNameSchema,
  formats: z.array(SignatureFormatSchema).min(1).default(['bundle', 'cosign']),
  /** Also sign each platform manifest of a multi-arch index. */
  signPlatformManifests: z.boolean().default(false),
});
export type WatchRule = z.infer<typeof WatchRuleSchema>;

const LogSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('rekor-v1'),
    url: z.url(),
    /**
     * The log's public key (PEM) as the document gives it, unchecked here: the witness is built with
     * it, or with the environment's when absent, and a bad one is refused there with an error that
     * names it (sign-on-push/from-env.ts signingLogKey).
     */
    publicKey: z.unknown().optional(),
  }),
  z.object({ kind: z.literal('rekor-v2'), url: z.url() }),
  z.object({ kind: z.literal('none') }),
]);
export type LogConfig = z.infer<typeof LogSchema>;

/**
 * Attempts of one digest before signOnPush gives it up with a signing-failed alert; below the
 * trigger's max_delivery_attempts, so the alert comes before Pub/Sub dead-letters the message.
 */
export const DEFAULT_MAX_ATTEMPTS = 10;

export const SignOnPushConfigSchema = z
  .object({
    project: z.string().min(1),
    watch: z.array(WatchRuleSchema).min(1, 'at least one watched repository is required'),
    log: LogSchema,
    /** Added to the simple-signing payload's `optional` section. */
    annotations: z.record(z.string(), z.string()).default({}),
    /** Attempts of one digest before it is given up with a signing-failed alert. */
    maxAttempts: z.number().int().min(1).max(100).default(DEFAULT_MAX_ATTEMPTS),
  })
  .refine((c) => c.log.kind !== 'rekor-v2', {
    // rekor-tiles takes only hashedrekord 0.0.2 with an X.509 verifier from sigstore-js, carries no
    // signed entry timestamp for cosign's legacy annotation, and drops DSSE: neither format fits yet.
    message:
      'signing into a Rekor v2 log is not supported yet (no SET for the cosign layout, no DSSE entries); use a v1 log or none',
    path: ['log'],
  });
export type SignOnPushConfig = z.infer<typeof SignOnPushConfigSchema>;

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function loadSignOnPushConfig(env: NodeJS.ProcessEnv): SignOnPushConfig {
  let raw: unknown;
  if (env.SIGSENTRY_CONFIG) {
    try {
      raw = JSON.parse(env.SIGSENTRY_CONFIG);
    } catch (err) {
      throw new InvalidInputError('SIGSENTRY_CONFIG is not JSON', {}, err);
    }
  } else {
    const rekor = rekorUrlFromEnv(env);
    raw = {
      project: env.GCP_PROJECT ?? env.GOOGLE_CLOUD_PROJECT,
      watch: list(env.SIGSENTRY_WATCH).map((repositories) => ({
        repositories,
        key: env.KMS_KEY,
        ...(env.SIGSENTRY_FORMATS ? { formats: list(env.SIGSENTRY_FORMATS) } : {}),
      })),
      log:
        !rekor || rekor === 'none'
          ? { kind: 'none' }
          : { kind: env.REKOR_API === 'v2' ? 'rekor-v2' : 'rekor-v1', url: rekor },
    };
  }
  const parsed = SignOnPushConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new InvalidInputError(`invalid signOnPush configuration: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

/** The first rule watching HOST/REPO, or undefined when the repository is not watched. */
export function ruleFor(config: SignOnPushConfig, repository: string): WatchRule | undefined {
  // The same selection reverifyImages makes to know the key a repository is signed with.
  return firstMatchingRule(config.watch, repository);
}
