/**
 * `sigsentry sign IMAGE [--json]`: sign one image with the signOnPush core, as if it had just been
 * pushed. `sigsentry sign --backfill HOST/REPO [--json]`: sign every digest the repository's tags
 * point to that is not signed yet, with a progress line and a summary.
 */

import type { SignatureFormat } from '../../config/sign-config.ts';
import { parseImageReference } from '../../registry/reference.ts';
import type { SignOutcome } from '../../sign-on-push/core.ts';
import { inline, print, terminalLogSink } from '../terminal.ts';
import { parseCommandArgs } from './args.ts';
import { commandEnv, say } from './stack-env.ts';

export const SIGN_USAGE = `usage: sigsentry sign IMAGE [--retry-failed] [--json]
       sigsentry sign --backfill HOST/REPOSITORY [--concurrency N] [--retry-failed] [--json]

  IMAGE is HOST/REPOSITORY:TAG or HOST/REPOSITORY@sha256:…; it must be in a watched repository
  (SIGSENTRY_WATCH) and exist in the registry. --backfill signs every unsigned digest the
  repository's tags point to (each digest once). --retry-failed gives images whose signing ran out
  of attempts (state failed, a signing-failed alert) a fresh set, once the cause is fixed. Exit codes: 0 signed (or already signed), 1 failed or not signed (IMAGE skipped: not watched, or a signature artifact), 2 usage error.`;

/** One image's line of the results (`--json`: an entry of `results`). */
export interface SignResult {
  image: string;
  outcome: SignOutcome['outcome'] | 'failed';
  detail?: string;
  /** Already signed, and these formats were gone from the registry: attached again from the record. */
  reattached?: SignatureFormat[];
}

/** What `sign` reports of one image's outcome. */
export function signResult(image: string, outcome: SignOutcome): SignResult {
  if (outcome.outcome === 'skipped') return { image, outcome: outcome.outcome, detail: outcome.reason };
  // A signature found gone and attached again is the backfill's repair: said, not only logged, and
  // listed by format for a script reading --json.
  const reattached = outcome.reattached ?? [];
  return {
    image,
    outcome: outcome.outcome,
    ...(reattached.length > 0 ? { detail: `re-attached in ${reattached.join(', ')}`, reattached } : {}),
  };
}

export async function runSign(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs(
    'sign',
    argv,
    {
      backfill: { type: 'string' },
      concurrency: { type: 'string', default: '4' },
      json: { type: 'boolean', default: false },
      'retry-failed': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    SIGN_USAGE,
    { positionals: 1 },
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  if (values.help) {
    print(`${SIGN_USAGE}\n`);
    return 0;
  }
  const image = positionals[0];
  const backfill = values.backfill as string | undefined;
  const concurrency = Number(values.concurrency);
  if ((image === undefined) === (backfill === undefined)) {
    say('sigsentry sign: give either IMAGE or --backfill HOST/REPOSITORY');
    say(SIGN_USAGE);
    return 2;
  }
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    say('sigsentry sign: --concurrency must be a whole number from 1 to 64');
    return 2;
  }
  let refs: string[];
  try {
    refs = image ? [image] : [];
    if (image) parseImageReference(image);
    if (backfill) parseImageReference(`${backfill}:latest`);
  } catch (err) {
    say(`sigsentry sign: ${(err as Error).message}`);
    return 2;
  }

  // The clients load only once the arguments are known to be good.
  const { createSignOnPush } = await import('../../sign-on-push/core.ts');
  const { signOnPushDepsFromEnv } = await import('../../sign-on-push/from-env.ts');
  const { toNotification } = await import('../../events/gcr-message.ts');
  const { ruleFor } = await import('../../config/sign-config.ts');
  const { createLogger } = await import('../../logging/logger.ts');
  const env = commandEnv();
  const logger = createLogger({ command: 'sign' }, terminalLogSink());
  const quiet = createLogger({ command: 'sign' }, () => {});
  let deps: Awaited<ReturnType<typeof signOnPushDepsFromEnv>>;
  try {
    deps = signOnPushDepsFromEnv(env, logger, { terminal: true });
  } catch (err) {
    say(`sigsentry sign: ${(err as Error).message}`);
    return 1;
  }
  const core = createSignOnPush({ ...deps, retryFailed: values['retry-failed'] === true });

  if (backfill) {
    const slash = backfill.indexOf('/');
    const repo = { host: backfill.slice(0, slash), repository: backfill.slice(slash + 1) };
    if (!ruleFor(deps.config, backfill)) {
      say(`sigsentry sign: ${backfill} is not a watched repository (SIGSENTRY_WATCH), so nothing is signed`);
      return 1;
    }
    try {
      const tags = await deps.registry.listTags(repo);
      // Every tag, those shaped like a signature artifact's too: the shape is no evidence (a
      // pipeline may tag a runnable image by digest), and the core skips, by its manifest, what is
      // an artifact. Several tags may name one digest: each digest is signed once (two concurrent
      // signings of one digest would only contend).
      const digests = new Map<string, string>();
      for (const tag of tags) {
        const { digest } = await deps.registry.resolve({ ...repo, tag });
        if (!digests.has(digest)) digests.set(digest, tag);
      }
      refs = [...digests.keys()].map((digest) => `${backfill}@${digest}`);
    } catch (err) {
      say(`sigsentry sign: cannot list the images of ${backfill}: ${(err as Error).message}`);
      return 1;
    }
  }

  const results: SignResult[] = [];
  const tty = process.stderr.isTTY && !values.json && backfill !== undefined;
  const progress = () => {
    if (!tty) return;
    const width = 30;
    const done = Math.round((results.length / Math.max(1, refs.length)) * width);
    process.stderr.write(
      `\r[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${results.length}/${refs.length}`,
    );
  };
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, refs.length) }, async () => {
      while (next < refs.length) {
        const ref = refs[next++]!;
        try {
          const parsedRef = parseImageReference(ref);
          const raw = parsedRef.digest
            ? {
                action: 'INSERT' as const,
                digest: `${parsedRef.host}/${parsedRef.repository}@${parsedRef.digest}`,
              }
            : { action: 'INSERT' as const, tag: ref };
          const outcome = await core.sign(toNotification(raw), backfill ? quiet : logger);
          results.push(signResult(ref, outcome));
        } catch (err) {
          results.push({ image: ref, outcome: 'failed', detail: (err as Error).message });
        }
        progress();
      }
    }),
  );
  if (tty) process.stderr.write('\n');
  const count = (o: string) => results.filter((r) => r.outcome === o).length;
  const summary = {
    images: results.length,
    signed: count('signed'),
    alreadySigned: count('already-signed'),
    skipped: count('skipped'),
    failed: count('failed'),
    results,
  };
  if (values.json) print(`${JSON.stringify(summary, null, 2)}\n`);
  else {
    for (const r of results) {
      print(`${r.outcome.padEnd(14)} ${inline(r.image)}${r.detail ? ` (${inline(r.detail)})` : ''}\n`);
    }
    if (backfill) {
      print(
        `${summary.images} images: ${summary.signed} signed, ${summary.alreadySigned} already signed, ${summary.skipped} skipped, ${summary.failed} failed\n`,
      );
    }
  }
  // One image asked for and skipped (not watched, a signature artifact) is an image left unsigned.
  const unsigned = backfill === undefined ? summary.skipped : 0;
  return summary.failed === 0 && unsigned === 0 ? 0 : 1;
}
