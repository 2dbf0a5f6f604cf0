/** `sigsentry alerts [--open] [--limit N] [--json]`: the alerts recorded in Firestore, newest first. */
import { parseCommandArgs } from './args.ts';
import { commandEnv, say } from './stack-env.ts';

export const ALERTS_USAGE = `usage: sigsentry alerts [--open] [--limit N] [--json]

  Lists the alerts in Firestore (collection alerts), newest first: open and resolved, or only
  open ones with --open. Exit codes: 0 listed (1 with --open when any alert is open), 2 usage error.`;

export async function runAlerts(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs(
    'alerts',
    argv,
    {
      open: { type: 'boolean', default: false },
      limit: { type: 'string', default: '50' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    ALERTS_USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(`${ALERTS_USAGE}\n`);
    return 0;
  }
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    say('sigsentry alerts: --limit must be a whole number from 1 to 1000');
    return 2;
  }
  const { Firestore } = await import('@google-cloud/firestore');
  const { FirestoreAlertStore } = await import('../../alerts/firestore-sink.ts');
  const env = commandEnv();
  const db = new Firestore({ projectId: env.GCP_PROJECT, ignoreUndefinedProperties: true });
  try {
    const alerts = await new FirestoreAlertStore(db).list({ open: values.open === true, limit });
    if (values.json) process.stdout.write(`${JSON.stringify(alerts, null, 2)}\n`);
    else if (!alerts.length) process.stdout.write(values.open ? 'no open alerts\n' : 'no alerts\n');
    else {
      for (const a of alerts) {
        process.stdout.write(
          `${a.state.padEnd(8)} ${a.severity.padEnd(8)} ${a.kind.padEnd(18)} ×${a.count} ${a.subject}\n`,
        );
        process.stdout.write(`         ${a.summary} (first ${a.firstSeen}, last ${a.lastSeen})\n`);
      }
    }
    return values.open && alerts.length > 0 ? 1 : 0;
  } catch (err) {
    say(`sigsentry alerts: ${(err as Error).message}`);
    return 1;
  } finally {
    await db.terminate();
  }
}
