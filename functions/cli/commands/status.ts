/**
 * `sigsentry status [--repository HOST/REPO] [--json]`: what the status page shows, in a terminal:
 * signing coverage per repository, recent signings, open alerts, the monitor's cursor (or that the
 * deployment watches no transparency log).
 */
import { ALERTS_COLLECTION } from '../../alerts/firestore-sink.ts';
import { type DashboardView, type SigningSummary, watchingNoLog } from '../../dashboard/view.ts';
import { inline, print } from '../terminal.ts';
import { parseCommandArgs } from './args.ts';
import { cliFirestoreSettings, commandEnv, say } from './stack-env.ts';

export const STATUS_USAGE = `usage: sigsentry status [--repository HOST/REPO] [--json]

  Signing coverage per repository, recent signings with their log indexes, open alerts and the
  transparency-log monitor's cursor (or that no log is configured, with the monitor's last run),
  from Firestore. Exit codes: 0 nothing open, 1 open alerts or unsigned/failing tags (or the state
  could not be read), 2 usage error.`;

export async function runStatus(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs(
    'status',
    argv,
    {
      repository: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    STATUS_USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  if (values.help) {
    print(`${STATUS_USAGE}\n`);
    return 0;
  }
  const { Firestore } = await import('@google-cloud/firestore');
  const { loadDashboard } = await import('../../dashboard/data.ts');
  const env = commandEnv();
  if (!env.GCP_PROJECT) {
    say('sigsentry status: GCP_PROJECT is not set and no local stack is up');
    return 1;
  }
  const settings = cliFirestoreSettings('status', env);
  if (settings === undefined) return 2;
  const db = new Firestore(settings);
  try {
    const view = await loadDashboard(db, {
      project: env.GCP_PROJECT,
      ...(typeof values.repository === 'string' ? { repository: values.repository } : {}),
    });
    const problems = view.coverage.reduce((n, c) => n + c.unsigned + c.failing, 0);
    if (values.json) print(`${JSON.stringify(view, null, 2)}\n`);
    else for (const line of statusLines(view)) print(`${line}\n`);
    return view.openAlerts.length === 0 && problems === 0 ? 0 : 1;
  } catch (err) {
    say(`sigsentry status: ${inline((err as Error).message)}`);
    return 1;
  } finally {
    await db.terminate();
  }
}

/**
 * The status as text. Values from the data (tag names, reasons quoting certificate identities, alert
 * subjects) are `inline`: only these templates start lines.
 */
export function statusLines(view: DashboardView): string[] {
  const lines: string[] = [];
  const out = (line: string) => lines.push(...line.split('\n'));
  const problems = view.coverage.reduce((n, c) => n + c.unsigned + c.failing, 0);
  out(
    `project ${inline(view.project)}: ${view.openAlerts.length}${view.truncated.includes(ALERTS_COLLECTION) ? '+' : ''} open alerts, ${problems} unsigned or failing tags`,
  );
  out('\ncoverage (signed / unsigned / failing / signing)');
  if (!view.coverage.length) out('  no watched tags verified yet');
  for (const c of view.coverage) {
    out(`  ${inline(c.repository)}: ${c.signed} / ${c.unsigned} / ${c.failing} / ${c.signing}`);
    for (const p of c.problems) {
      out(`    ${p.status}: ${inline(p.ref)} (${inline(p.reasons.join('; ') || p.detail)})`);
    }
  }
  out('\nrecent signings');
  if (!view.recentSignings.length) out('  none');
  for (const s of view.recentSignings.slice(0, 10)) {
    out(`  ${s.state.padEnd(9)} ${inline(s.image)} [${inline(signingEntries(s))}]`);
  }
  out('\nopen alerts');
  if (!view.openAlerts.length) out('  none');
  for (const a of view.openAlerts) out(`  ${a.severity.padEnd(8)} ${a.kind.padEnd(18)} ${inline(a.subject)}`);
  out('\ntransparency-log monitor');
  for (const line of monitorLines(view)) out(line);
  if (view.truncated.length) out(`\n(partial counts: ${view.truncated.join(', ')})`);
  return lines;
}

/**
 * The monitor's lines: each log's cursor, or that the deployment watches no log (with the monitor's
 * last run), which is not "no run yet", what a monitor that never ran shows.
 */
export function monitorLines(view: Pick<DashboardView, 'monitors' | 'noLogRun'>): string[] {
  const lines: string[] = [];
  const noLog = watchingNoLog(view);
  if (noLog !== undefined) {
    lines.push(
      `  no transparency log is configured: none watched (the monitor last ran ${inline(noLog.lastRunAt)})`,
    );
    if (view.monitors.length > 0) lines.push('  log states from earlier runs, when a log was configured:');
  } else if (view.monitors.length === 0) {
    lines.push('  no run yet');
  }
  const indent = noLog !== undefined ? '    ' : '  ';
  for (const m of view.monitors) {
    lines.push(`${indent}${inline(m.log)}: cursor ${m.cursor} of verified tree size ${m.treeSize}`);
  }
  return lines;
}

/** A signing's formats on one line: each log index, or that the format was given up on or is being added. */
export function signingEntries(s: SigningSummary): string {
  const formats = new Set([
    ...s.entries.map((e) => e.format),
    ...(s.failedFormats ?? []),
    ...(s.addingFormats ?? []),
  ]);
  return [...formats]
    .sort()
    .map((format) => {
      if (s.failedFormats?.includes(format)) return `${format} failed`;
      if (s.addingFormats?.includes(format)) return `${format} adding`;
      return `${format} #${s.entries.find((e) => e.format === format)?.logIndex ?? '?'}`;
    })
    .join(', ');
}
