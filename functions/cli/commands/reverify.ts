/**
 * `sigsentry reverify --once [--json]`: one re-verification pass with the same core as the scheduled
 * reverifyImages function, configured from the environment over the local stack's stack.env, verdicts
 * in Firestore and alerts through the alert pipeline. Exit 0 when every tag is valid and every
 * expected key enabled, 1 otherwise.
 */
import { parseArgs } from 'node:util';
import type { ReverifySummary } from '../../reverify/core.ts';
import { inline, print, terminalLogSink } from '../terminal.ts';
import { commandEnv, say } from './stack-env.ts';

export const REVERIFY_USAGE = `usage: sigsentry reverify --once [--json]

Runs one re-verification pass over every tag of the watched repositories (SIGSENTRY_WATCH) and the
watchlist (SIGSENTRY_WATCHLIST), stores the verdicts in Firestore and raises or resolves alerts.
The schedule itself is the reverifyImages function. Exit codes: 0 all valid (every expected key enabled), 1 not, 2 usage error.`;

export async function runReverify(argv: string[]): Promise<number> {
  let values: { once: boolean; json: boolean; help: boolean };
  try {
    const parsed = parseArgs({
      args: argv,
      options: {
        once: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    values = parsed.values as typeof values;
  } catch (err) {
    say(`sigsentry reverify: ${inline((err as Error).message)}`);
    say(REVERIFY_USAGE);
    return 2;
  }
  if (values.help) {
    print(`${REVERIFY_USAGE}\n`);
    return 0;
  }
  if (!values.once) {
    say('sigsentry reverify: only --once is supported here; the schedule runs the reverifyImages function');
    say(REVERIFY_USAGE);
    return 2;
  }
  const { alertSinkFromEnv } = await import('../../alerts/from-env.ts');
  const { createLogger } = await import('../../logging/logger.ts');
  const { createReverifyFromEnv } = await import('../../reverify/from-env.ts');
  const env = commandEnv();
  // Log lines go to stderr so that --json output stays parseable.
  const logger = createLogger({ command: 'reverify' }, terminalLogSink());
  try {
    // What the pass fails on is left to the scheduled function to follow up: this pass may run with
    // another configuration, and must not resolve its verification-stale alert.
    const runtime = await createReverifyFromEnv(env, {
      alerts: alertSinkFromEnv(env, { logger, terminal: true }),
      logger,
      followUnverified: false,
    });
    const summary = await runtime.run();
    if (values.json) {
      print(`${JSON.stringify(summary, null, 2)}\n`);
    } else {
      for (const line of passLines(summary)) print(`${line}\n`);
    }
    const allWell =
      summary.errors.length === 0 &&
      summary.byStatus.valid === summary.tags &&
      summary.keysNotEnabled.length === 0;
    return allWell ? 0 : 1;
  } catch (err) {
    say(`sigsentry reverify: ${inline((err as Error).message)}`);
    return 1;
  }
}

/** A pass in text: the counts, each tag that is not valid, each key version not enabled, each error. */
export function passLines(
  summary: Pick<
    ReverifySummary,
    'tags' | 'durationMs' | 'byStatus' | 'outcomes' | 'keysNotEnabled' | 'errors'
  >,
): string[] {
  const counts = Object.entries(summary.byStatus)
    .filter(([, n]) => n > 0)
    .map(([status, n]) => `${n} ${status}`)
    .join(', ');
  const lines = [`${summary.tags} tags in ${summary.durationMs} ms: ${counts || 'none'}`];
  for (const o of summary.outcomes.filter((o) => o.status !== 'valid')) {
    lines.push(`  ${o.status}: ${inline(o.ref)} (${inline(o.digest)})`);
  }
  for (const k of summary.keysNotEnabled) {
    const trust = k.trusted ? 'its signatures are key-disabled' : 'trusted for nothing';
    lines.push(`  key not enabled: ${inline(k.keyVersion)} is ${inline(k.state)} (${trust})`);
  }
  for (const e of summary.errors) lines.push(`  error: ${inline(e.ref)}: ${inline(e.error)}`);
  return lines;
}
