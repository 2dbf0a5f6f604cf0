/**
 * `sigsentry monitor --once [--from INDEX] [--json]`: one monitorLog run with the same core as the
 * scheduled function: verify the checkpoint and its consistency, scan the new entries, alert.
 */

import { InvalidInputError } from '../../errors.ts';
import type { MonitorRunResult } from '../../monitor-log/core.ts';
import { inline, print, terminalLogSink } from '../terminal.ts';
import { parseCommandArgs, withRekorKey } from './args.ts';
import { commandEnv, say } from './stack-env.ts';

export const MONITOR_USAGE = `usage: sigsentry monitor --once [--from INDEX] [--json]
       sigsentry monitor --abandon-tree ORIGIN --reason TEXT [--log NAME] [--json]

  One run over the configured log(s) (REKOR_URL, REKOR_PUBLIC_KEY, owned identities from KMS_KEY and
  SIGSENTRY_IDENTITIES): checkpoint signature, consistency with the last verified checkpoint, then
  every new entry matched against the owned identities. --from rescans from an index at or below
  the cursor (one past it is refused: it would skip unscanned entries). It counts, as the cursor
  does, within the log's current tree: on a sharded Rekor v1 that is an alert's treeIndex, not its
  global logIndex.
  Without a log (REKOR_URL=none) it says so, records the run for \`sigsentry status\`, and refuses
  --from (there is no log to backfill).
  Exit codes: 0 the log is consistent and was scanned (or there is no log), 1 it was not (another
  run holding the log, a dependency failed, or a pending tree failing a log integrity check,
  included), 2 usage error (a --from that would skip unscanned entries, or any --from without a
  log, included).
  The text names each pending tree found failing a log integrity check, with its alert's key.

  --abandon-tree gives up a tree left pending (the log moved past it and never listed it frozen
  with a head that verifies, so every run warns that it cannot be proven): its entries from its
  cursor on are never scanned. The reason is kept in the monitor's state with the time. --log names
  the log when more than one is configured. Exit 0 done, 1 the state could not be written, 2 no
  such pending tree, no reason, or no such log.`;

export async function runMonitorCommand(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs(
    'monitor',
    argv,
    {
      once: { type: 'boolean', default: false },
      'abandon-tree': { type: 'string' },
      reason: { type: 'string' },
      log: { type: 'string' },
      from: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    MONITOR_USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  if (values.help) {
    print(`${MONITOR_USAGE}\n`);
    return 0;
  }
  const abandon = values['abandon-tree'];
  if (typeof abandon === 'string') {
    const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
    return abandonTree(abandon, text(values.reason) ?? '', text(values.log), values.json === true);
  }
  if (!values.once) {
    say('sigsentry monitor: only --once is supported here; the schedule runs the monitorLog function');
    say(MONITOR_USAGE);
    return 2;
  }
  let from: number | undefined;
  if (values.from !== undefined) {
    from = Number(values.from);
    if (!Number.isSafeInteger(from) || from < 0) {
      say(`sigsentry monitor: --from must be a log index (a whole number ≥ 0), not ${values.from}`);
      return 2;
    }
  }
  const { runMonitor } = await import('../../monitor-log/core.ts');
  const { monitorDepsFromEnv } = await import('../../monitor-log/from-env.ts');
  const { createLogger } = await import('../../logging/logger.ts');
  const logger = createLogger({ command: 'monitor' }, terminalLogSink());
  try {
    const env = await withRekorKey(commandEnv());
    const deps = await monitorDepsFromEnv(env, { logger, terminal: true });
    const result = await runMonitor({ ...deps, ...(from !== undefined ? { from } : {}) });
    if (values.json) print(`${JSON.stringify(result, (_k, v) => (v instanceof Error ? v.message : v), 2)}\n`);
    else for (const line of monitorRunLines(result)) print(`${line}\n`);
    const busy = result.logs.filter((log) => log.outcome === 'busy');
    for (const log of busy) {
      say(`sigsentry monitor: ${log.log} is being scanned by another run (its lease); nothing scanned here`);
    }
    if (result.refused !== undefined) say(`sigsentry monitor: ${result.refused.message}`);
    return monitorExitCode(result);
  } catch (err) {
    say(`sigsentry monitor: ${(err as Error).message}`);
    return 1;
  }
}

/**
 * A run in text: a line per log with its counts, then what the run found about it (the trees it
 * moved through, a stall, a fan-out, each pending tree failing an integrity check, its error).
 */
export function monitorRunLines(result: Pick<MonitorRunResult, 'logs' | 'note'>): string[] {
  // A deployment without a log (REKOR_URL=none): no log lines, only why there are none.
  const lines = result.note !== undefined ? [result.note] : [];
  for (const log of result.logs) {
    lines.push(
      `${log.log}: ${log.outcome}; tree size ${log.treeSize ?? '?'}, cursor ${log.from ?? '?'} → ${log.cursor ?? '?'}, ` +
        `${log.scanned} scanned, ${log.matched} matched, ${log.rogue} rogue, ${log.unparseable} unparseable`,
    );
    if (log.trees !== undefined) {
      lines.push(
        `  the log moved to another tree: ${log.trees.map((t) => `"${inline(t)}"`).join(' → ')} (the cursor counts in each)`,
      );
    }
    if (log.stalledSince !== undefined) {
      lines.push(`  the log has not grown since ${log.stalledSince} (log-stalled)`);
    }
    if (log.outcome === 'fanned-out') {
      lines.push(
        `  the backlog is scanned in shards (monitorShard); ${log.dispatched ?? 0} published by this run; ` +
          'the next run moves the cursor over the finished ones',
      );
    }
    // Named whatever the run's end: a run that then failed or lost the log says only that in its outcome.
    for (const fault of log.pendingFaults ?? []) {
      lines.push(
        `  pending tree "${inline(fault.origin)}" failed a log integrity check (alert ${inline(fault.alert)}${fault.alertRecorded ? '' : ' not recorded: the next run raises it'}): ${inline(fault.error)}`,
      );
    }
    if (log.error) lines.push(`  error: ${inline((log.error as Error).message ?? String(log.error))}`);
  }
  return lines;
}

/** The exit code of a run, as MONITOR_USAGE documents it. */
export function monitorExitCode(result: Pick<MonitorRunResult, 'ok' | 'logs' | 'refused'>): 0 | 1 | 2 {
  // Another run (the scheduled one) holds the log: nothing was scanned here, which 0 would deny.
  if (result.ok) return result.logs.some((log) => log.outcome === 'busy') ? 1 : 0;
  // A --from with no log to backfill (REKOR_URL=none): the caller's, as a --from past the cursor.
  if (result.refused !== undefined) return 2;
  // A refused --from is known only once the log's state is read, but it is still the caller's.
  return result.logs.some((log) => log.error instanceof InvalidInputError) ? 2 : 1;
}

/** `--abandon-tree`: one pending tree of one configured log given up, with the operator's reason. */
async function abandonTree(
  origin: string,
  reason: string,
  log: string | undefined,
  json: boolean,
): Promise<number> {
  const { loadMonitorConfig } = await import('../../monitor-log/config.ts');
  const { abandonPendingTree } = await import('../../monitor-log/abandon-tree.ts');
  const { FirestoreMonitorStore } = await import('../../monitor-log/state.ts');
  const { Firestore } = await import('@google-cloud/firestore');
  const { firestoreSettings } = await import('../../config/firestore.ts');
  const env = commandEnv();
  let db: InstanceType<typeof Firestore> | undefined;
  try {
    const config = loadMonitorConfig(env);
    const names = config.logs.map((l) => l.name);
    const name = log ?? (names.length === 1 ? names[0] : undefined);
    if (name === undefined || !names.includes(name)) {
      say(
        `sigsentry monitor: ${log === undefined ? 'name the log with --log' : `no configured log is named ${inline(log)}`}; configured: ${names.map(inline).join(', ') || 'none'}`,
      );
      return 2;
    }
    db = new Firestore(firestoreSettings(env, config.project));
    const abandoned = await abandonPendingTree(new FirestoreMonitorStore(db), { log: name, origin, reason });
    if (json) print(`${JSON.stringify(abandoned, null, 2)}\n`);
    else {
      print(
        `${inline(name)}: tree "${inline(abandoned.origin)}" abandoned at ${abandoned.at}: its entries from index ${abandoned.cursor} on ` +
          `(at least ${Math.max(0, abandoned.size - abandoned.cursor)}) will never be scanned; reason: ${inline(abandoned.reason)}\n`,
      );
    }
    return 0;
  } catch (err) {
    say(`sigsentry monitor: ${(err as Error).message}`);
    return err instanceof InvalidInputError ? 2 : 1;
  } finally {
    await db?.terminate();
  }
}
