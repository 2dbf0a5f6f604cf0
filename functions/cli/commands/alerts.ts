/**
 * `sigsentry alerts [--open] [--limit N] [--json]`: the alerts recorded in Firestore, newest first.
 * `sigsentry alerts resolve KEY --reason TEXT`: an operator resolves one (a tag deleted, a log
 * rotation acknowledged), told to every alert channel as sigsentry's own resolutions are.
 */

import type { Alert } from '../../alerts/alert.ts';
import { TAG_ALERT_KINDS } from '../../reverify/alerts.ts';
import { isKeyVersionAlert } from '../../reverify/key-alerts.ts';
import { inline, print } from '../terminal.ts';
import { parseCommandArgs } from './args.ts';
import { cliFirestoreSettings, commandEnv, say } from './stack-env.ts';

export const ALERTS_USAGE = `usage: sigsentry alerts [--open] [--limit N] [--json]
       sigsentry alerts resolve KEY --reason TEXT

  Lists the alerts in Firestore (collection alerts), newest first: open and resolved, or only
  open ones with --open; each with its key. \`resolve\` resolves the open alert KEY, the reason
  kept with it, and tells the alert channels (Pub/Sub from this shell; Cloud Logging, and the
  webhook when ALERT_WEBHOOK_URL is not set here, by the next monitorLog run); it re-opens if what
  it reports happens again. A tag's alert is raised when the tag's verdict changes, so one resolved
  while the tag is still in that state stays resolved until its verdict changes. Exit codes: 0 listed or resolved (1 with --open when any alert is open;
  1 when KEY names no alert or a channel was not told), 2 usage error.`;

/** An alert as `sigsentry alerts` lists it: three lines, whatever its subject and summary hold. */
export function alertLines(a: Alert): string[] {
  return [
    `${a.state.padEnd(8)} ${a.severity.padEnd(8)} ${a.kind.padEnd(18)} ×${a.count} ${inline(a.subject)}`,
    `         ${inline(a.summary)} (first ${inline(a.firstSeen)}, last ${inline(a.lastSeen)})`,
    `         key ${inline(a.key)}`,
  ];
}

export async function runAlerts(argv: string[]): Promise<number> {
  if (argv[0] === 'resolve') return await resolveAlert(argv.slice(1));
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
    print(`${ALERTS_USAGE}\n`);
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
  const settings = cliFirestoreSettings('alerts', env);
  if (settings === undefined) return 2;
  const db = new Firestore(settings);
  try {
    const alerts = await new FirestoreAlertStore(db).list({ open: values.open === true, limit });
    if (values.json) print(`${JSON.stringify(alerts, null, 2)}\n`);
    else if (!alerts.length) print(values.open ? 'no open alerts\n' : 'no alerts\n');
    else {
      for (const a of alerts) for (const line of alertLines(a)) print(`${line}\n`);
    }
    return values.open && alerts.length > 0 ? 1 : 0;
  } catch (err) {
    say(`sigsentry alerts: ${inline((err as Error).message)}`);
    return 1;
  } finally {
    await db.terminate();
  }
}

async function resolveAlert(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs(
    'alerts resolve',
    argv,
    { reason: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
    ALERTS_USAGE,
    { positionals: 1 },
  );
  if (typeof parsed === 'number') return parsed;
  if (parsed.values.help) {
    print(`${ALERTS_USAGE}\n`);
    return 0;
  }
  const [key] = parsed.positionals;
  const reason = typeof parsed.values.reason === 'string' ? parsed.values.reason.trim() : '';
  if (key === undefined || reason === '') {
    say("sigsentry alerts resolve: give the alert's KEY and --reason (kept with the alert, for the record)");
    say(ALERTS_USAGE);
    return 2;
  }
  const { Firestore } = await import('@google-cloud/firestore');
  const { PubSub } = await import('@google-cloud/pubsub');
  const { FirestoreAlertStore } = await import('../../alerts/firestore-sink.ts');
  const { alertSinkFromEnv } = await import('../../alerts/from-env.ts');
  const env = commandEnv();
  const settings = cliFirestoreSettings('alerts resolve', env);
  if (settings === undefined) return 2;
  const firestore = new Firestore(settings);
  const pubsub = new PubSub({ projectId: env.GCP_PROJECT });
  try {
    const alert = await new FirestoreAlertStore(firestore).get(key);
    if (alert === undefined) {
      say(`sigsentry alerts resolve: no alert has the key ${key} (\`sigsentry alerts\` lists them)`);
      return 1;
    }
    if (alert.state === 'resolved' && alert.undelivered === undefined) {
      print(`${key} was already resolved (${alert.resolvedAt ?? 'earlier'})\n`);
      return 0;
    }
    await alertSinkFromEnv(env, { firestore, pubsub, terminal: true }).resolve(
      key,
      `resolved by an operator: ${reason}`,
    );
    print(`${key} resolved\n`);
    // reverifyImages raises a tag's alert when its verdict changes, not on every pass that finds it.
    // A key version's key-disabled alert (its subject the key version, not a tag) is raised by every
    // pass that finds the key not enabled: no warning for it.
    const tagAlert = TAG_ALERT_KINDS.includes(alert.kind) && !isKeyVersionAlert(alert);
    if (tagAlert && alert.state === 'open') {
      say(
        "sigsentry alerts resolve: reverifyImages raises this again only when the tag's verdict changes; " +
          'if the tag is still in this state, nothing will alert on it until then',
      );
    }
    // The deployed functions read the webhook from Secret Manager; this shell may not have it.
    say(
      `sigsentry alerts resolve: Cloud Logging${env.ALERT_WEBHOOK_URL ? '' : ' and the webhook'} will be told by ` +
        "the next monitorLog run (this shell's lines reach neither)",
    );
    return 0;
  } catch (err) {
    say(`sigsentry alerts resolve: ${(err as Error).message}`);
    return 1;
  } finally {
    await pubsub.close();
    await firestore.terminate();
  }
}
