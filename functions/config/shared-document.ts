/**
 * SIGSENTRY_CONFIG is one document for every function (infra gives each the same one). signOnPush
 * reads its `watch` as rules `{repositories, key, …}` and its `log` as `{kind, url}`; reverifyImages
 * and monitorLog read what they need of the same fields here, so the three agree on them.
 */
import { matchesGlob } from './glob.ts';
import { logPublicKeyFromEnv } from './log-key.ts';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** The `key` of each watch rule that has one, as written (the readers' schemas check them). */
export function watchRuleKeys(watch: unknown): unknown[] {
  if (!Array.isArray(watch)) return [];
  return watch.flatMap((rule: unknown) => (isObject(rule) && rule['key'] !== undefined ? [rule['key']] : []));
}

/**
 * The first of `rules` whose glob matches HOST/REPO: how signOnPush picks the rule, and so the key,
 * a repository is signed with (sign-config.ts ruleFor), and so the key reverifyImages expects there.
 */
export function firstMatchingRule<Rule extends { repositories: string }>(
  rules: readonly Rule[],
  repository: string,
): Rule | undefined {
  return rules.find((rule) => matchesGlob(rule.repositories, repository));
}

/**
 * The document's `log`, a v1 log given its key when it has none: REKOR_PUBLIC_KEY, or the key of a
 * log in the public-good trusted root, as in the plain variables. Anything else is returned as it is.
 */
export function withV1LogKey(log: unknown, env: NodeJS.ProcessEnv): unknown {
  if (!isObject(log) || log['kind'] !== 'rekor-v1' || log['publicKey'] !== undefined) return log;
  return typeof log['url'] === 'string' ? { ...log, publicKey: logPublicKeyFromEnv(env, log['url']) } : log;
}
