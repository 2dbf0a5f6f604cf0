/**
 * monitorLog configuration (zod), from SIGSENTRY_CONFIG's `monitor` section or, for one log,
 * from plain variables (the monitorLog rows of config/environment.ts):
 *   REKOR_URL, REKOR_API (v1|v2), REKOR_PUBLIC_KEY   the log and the key its checkpoints verify with
 *   (or REKOR_PUBLIC_KEY_FILE; neither: the key of a public-good log from the embedded trusted root;
 *   REKOR_URL=none: no log, see NoLogMonitorConfigSchema; unset or empty: a configuration error)
 *   SIGSENTRY_IDENTITIES                             JSON list of owned identities (identities.ts)
 *   KMS_KEY                                          a KMS key version, added as an owned identity
 *   MONITOR_START_INDEX                              where the first run starts (default: tree size)
 *   MONITOR_MAX_ENTRIES                              entries one run scans at most per log
 *   MONITOR_STALLED_AFTER_HOURS                      the log's stalledAfterHours: hours, or false
 *                                                    (never); unset: the default, 24
 *   MONITOR_SHARD_TOPIC                              Pub/Sub topic of fan-out shards (monitorShard
 *                                                    listens on it); unset: no fan-out
 */
import { z } from 'zod';
import { logPublicKeyFromEnv } from '../config/log-key.ts';
import { rekorUrlFromEnv } from '../config/rekor-url.ts';
import { watchRuleKeys, withV1LogKey } from '../config/shared-document.ts';
import { InvalidInputError } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import { V1_RETRIEVED_ENTRIES_MAX_BYTES } from '../tlog/client/limits.ts';
import { MAX_SHARDS_PER_PLAN } from './fan-out.ts';
import { identitiesDifferingOnlyInCase, OwnedIdentitySchema } from './identities.ts';

const Index = z.number().int().nonnegative();

/** The longest a log may be allowed to go without growing: 90 days. */
export const MAX_STALLED_AFTER_HOURS = 24 * 90;
/**
 * Below an hour, a log that grows slowly would be alerted and resolved on alternate scheduled runs
 * (every 15 minutes), each raise a page.
 */
export const MIN_STALLED_AFTER_HOURS = 1;
const STALLED_AFTER_HOURS = `a number of hours from ${MIN_STALLED_AFTER_HOURS} to ${MAX_STALLED_AFTER_HOURS}, or false (never)`;

export const MonitoredLogSchema = z.object({
  /** State document and alert key of the log; several logs (shards) each have their own. */
  name: z
    .string()
    .regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits and . _ : - only')
    .optional(),
  kind: z.enum(['rekor-v1', 'rekor-v2']),
  url: z.url(),
  /** The log's public key (PEM): ECDSA for v1, Ed25519 for v2. */
  publicKey: z.string().min(1),
  /** v2: checkpoint origin (default: the URL's host name). */
  origin: z.string().min(1).optional(),
  startIndex: Index.optional(),
  /**
   * v1: global index of the active tree's first entry, for a log whose info lists no inactive
   * shards (a sharded Rekor lists them, and the offset is taken from there, rotations included).
   */
  indexOffset: Index.optional(),
  /**
   * Hours the log may go without growing before a run raises `log-stalled` (default 24: a private
   * log with little traffic may not grow for hours); false: never (a log known to stay still).
   */
  stalledAfterHours: z
    .union(
      [
        z
          .number()
          .min(MIN_STALLED_AFTER_HOURS, STALLED_AFTER_HOURS)
          .max(MAX_STALLED_AFTER_HOURS, STALLED_AFTER_HOURS),
        z.literal(false),
      ],
      { error: STALLED_AFTER_HOURS },
    )
    .optional(),
});
export type MonitoredLogSettings = z.infer<typeof MonitoredLogSchema> & { name: string };

export const MonitorLimitsSchema = z
  .object({
    /** Entries per batch on a Rekor v1 log; a tile log's batches are whole entry bundles (see logSourceFor). */
    batchSize: z.number().int().min(10).max(100_000),
    maxEntriesPerRun: z.number().int().positive(),
    timeBudgetMs: z.number().int().positive(),
    lookupConcurrency: z.number().int().min(1).max(64),
    /** Batches read ahead of the one being matched. */
    readAhead: z.number().int().min(1).max(8),
    /**
     * Bytes of log answers a scan holds at most (default 48 MiB, for a 256 MiB instance; see
     * MONITOR_READ_BUDGET_BYTES). A batch may hold half: at least the largest single answer (a v1
     * retrieve answer at its limit), so that an answer the format allows is never refused for want
     * of budget alone.
     */
    readBudgetBytes: z
      .number()
      .int()
      .min(2 * V1_RETRIEVED_ENTRIES_MAX_BYTES)
      .max(4 * 1024 ** 3),
    fanOutAbove: z.number().int().min(1000),
    shardSize: z.number().int().min(1000),
    maxShardsPerPlan: z.number().int().min(1).max(MAX_SHARDS_PER_PLAN),
    shardLeaseMs: z.number().int().min(60_000),
    /** Log requests in flight (v1 batch retrieves per batch; v2 entry bundles over the batches read at once). */
    requestConcurrency: z.number().int().min(1).max(256),
  })
  .partial();

// Strict: a misspelt key (`log` for `logs`) is refused, not dropped for a default.
export const MonitorConfigSchema = z.strictObject({
  project: z.string().min(1),
  logs: z.array(MonitoredLogSchema).min(1, 'at least one log to monitor'),
  identities: z.array(OwnedIdentitySchema).default([]),
  limits: MonitorLimitsSchema.default({}),
  /** Topic the fan-out shards are published on; without one, every run scans alone. */
  shardTopic: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9._~%+-]{2,254}$/, 'a Pub/Sub topic id')
    .optional(),
});
/**
 * A deployment that says it has no transparency log (REKOR_URL=none; a SIGSENTRY_CONFIG document
 * whose log is `{"kind": "none"}`, with no monitor.logs): no log is watched, so no owned identity is
 * needed, and each run only tells the alert notices still owed (entry.ts).
 */
const NoLogMonitorConfigSchema = MonitorConfigSchema.extend({ logs: z.array(MonitoredLogSchema).max(0) });

export type MonitorConfig = Omit<z.infer<typeof MonitorConfigSchema>, 'logs'> & {
  /** Empty only when the configuration says there is no log (NoLogMonitorConfigSchema). */
  logs: MonitoredLogSettings[];
};

/**
 * A monitor with no owned identity matches nothing: each run would move its cursor past every entry
 * unchecked and report success, so a deployment missing KMS_KEY and SIGSENTRY_IDENTITIES would
 * lose those entries for good. It is refused at start instead.
 */
export function noOwnedIdentitiesError(): InvalidInputError {
  return new InvalidInputError(
    'monitorLog has no owned identities to watch the log for: set KMS_KEY or SIGSENTRY_IDENTITIES, ' +
      "or with SIGSENTRY_CONFIG (which they then give way to) its watch rules' keys or monitor.identities; " +
      'without one every entry would be passed over unchecked',
  );
}

function json(value: string, what: string): unknown {
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new InvalidInputError(`${what} is not JSON`, {}, err);
  }
}

function int(value: string | undefined, what: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value)) throw new InvalidInputError(`${what} must be a non-negative integer`);
  return Number(value);
}

/**
 * MONITOR_STALLED_AFTER_HOURS: a number of hours (decimals allowed) from MIN_STALLED_AFTER_HOURS
 * to MAX_STALLED_AFTER_HOURS, or `false` (never), as a document's `stalledAfterHours` is; unset or
 * empty: the default. Refused here, naming the variable, rather than by the schema, whose message
 * would name `logs[0].stalledAfterHours`, a field the plain variables never mention.
 */
function stalledAfterHours(value: string | undefined): number | false | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'false') return false;
  const hours = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
  if (!(hours >= MIN_STALLED_AFTER_HOURS && hours <= MAX_STALLED_AFTER_HOURS)) {
    throw new InvalidInputError(
      `MONITOR_STALLED_AFTER_HOURS must be a number of hours from ${MIN_STALLED_AFTER_HOURS} to ${MAX_STALLED_AFTER_HOURS}, ` +
        `or false to never raise log-stalled; not ${JSON.stringify(value)}`,
    );
  }
  return hours;
}

/** A readable default name: the log's host and path. */
export function defaultLogName(url: string): string {
  const u = new URL(url);
  return `${u.host}${u.pathname.replace(/\/+$/, '')}`.replace(/[^A-Za-z0-9._:-]/g, '_');
}

/**
 * The document's `log` (signOnPush's, a v1 log: signOnPush refuses v2) as the one log to monitor;
 * none for `none` (noLogInDocument) or a log it cannot watch (the schema then refuses no logs). A v2 log is listed in monitor.logs with its Ed25519 key.
 */
function logOfDocument(log: unknown, env: NodeJS.ProcessEnv): unknown[] {
  if (typeof log !== 'object' || log === null) return [];
  const { kind, url, publicKey } = withV1LogKey(log, env) as Record<string, unknown>;
  return kind === 'rekor-v1' && typeof url === 'string' ? [{ kind, url, publicKey }] : [];
}

/**
 * The document says there is no log: its `log` is `{"kind": "none"}`, as signOnPush reads it. An
 * absent `log` is not taken for none: signOnPush and reverifyImages refuse such a document, and a
 * monitor that read a typo (`monitor.log`) as "no log" would watch nothing and succeed every run.
 */
function noLogInDocument(log: unknown): boolean {
  return typeof log === 'object' && log !== null && (log as { kind?: unknown }).kind === 'none';
}

/**
 * REKOR_URL unset or empty is not taken for `none`: a deployment that lost the variable would
 * otherwise watch nothing and report success on every run.
 */
function noLogNamedError(): InvalidInputError {
  return new InvalidInputError(
    'invalid monitorLog configuration: REKOR_URL is not set, and monitorLog needs at least one log to monitor: ' +
      'set REKOR_URL to the log\'s base URL, or to "none" for a deployment without a transparency log ' +
      '(or give the logs in SIGSENTRY_CONFIG)',
  );
}

/**
 * `logger` gets a WARNING for configured certificate identities that differ only in case (or an
 * issuer's trailing slash): the matcher takes them for one (identities.ts identityText).
 */
export function loadMonitorConfig(env: NodeJS.ProcessEnv, logger?: Pick<Logger, 'warn'>): MonitorConfig {
  let raw: Record<string, unknown>;
  let noLog: boolean;
  const project = env.GCP_PROJECT ?? env.GOOGLE_CLOUD_PROJECT;
  if (env.SIGSENTRY_CONFIG) {
    const parsed = json(env.SIGSENTRY_CONFIG, 'SIGSENTRY_CONFIG');
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new InvalidInputError('SIGSENTRY_CONFIG must be a JSON object');
    }
    const doc = parsed as Record<string, unknown>;
    const monitor = doc['monitor'] ?? {};
    if (typeof monitor !== 'object' || monitor === null || Array.isArray(monitor)) {
      throw new InvalidInputError('SIGSENTRY_CONFIG: monitor must be a JSON object');
    }
    raw = { project: doc['project'] ?? project, ...(monitor as Record<string, unknown>) };
    // Without logs of its own, the monitor watches the document's log, the one signOnPush logs to.
    noLog = raw['logs'] === undefined && noLogInDocument(doc['log']);
    if (raw['logs'] === undefined && doc['log'] === undefined) {
      throw new InvalidInputError(
        'invalid monitorLog configuration: SIGSENTRY_CONFIG names no log to monitor: give monitor.logs, ' +
          'or the document\'s log (the one signOnPush logs to), or log {"kind": "none"} for a deployment without one',
      );
    }
    if (raw['logs'] === undefined) raw['logs'] = logOfDocument(doc['log'], env);
    // The keys signOnPush signs with (its watch rules, in the same document) are owned, as KMS_KEY is.
    const signingKeys = [
      ...new Set(watchRuleKeys(doc['watch']).filter((k): k is string => typeof k === 'string')),
    ];
    if (signingKeys.length > 0) {
      const listed = raw['identities'] ?? [];
      raw['identities'] = Array.isArray(listed)
        ? [...listed, ...signingKeys.map((keyVersion) => ({ type: 'kms', keyVersion }))]
        : listed;
    }
    if (env.MONITOR_SHARD_TOPIC) raw.shardTopic = env.MONITOR_SHARD_TOPIC;
  } else {
    const identities = env.SIGSENTRY_IDENTITIES ? json(env.SIGSENTRY_IDENTITIES, 'SIGSENTRY_IDENTITIES') : [];
    if (!Array.isArray(identities)) throw new InvalidInputError('SIGSENTRY_IDENTITIES must be a JSON list');
    const startIndex = int(env.MONITOR_START_INDEX, 'MONITOR_START_INDEX');
    const maxEntriesPerRun = int(env.MONITOR_MAX_ENTRIES, 'MONITOR_MAX_ENTRIES');
    const stalledAfter = stalledAfterHours(env.MONITOR_STALLED_AFTER_HOURS);
    const rekor = rekorUrlFromEnv(env);
    if (rekor === undefined) throw noLogNamedError();
    noLog = rekor === 'none';
    raw = {
      project,
      logs: noLog
        ? []
        : [
            {
              kind: env.REKOR_API === 'v2' ? 'rekor-v2' : 'rekor-v1',
              url: rekor,
              publicKey: logPublicKeyFromEnv(env, rekor),
              ...(startIndex !== undefined ? { startIndex } : {}),
              ...(stalledAfter !== undefined ? { stalledAfterHours: stalledAfter } : {}),
            },
          ],
      identities: [...identities, ...(env.KMS_KEY ? [{ type: 'kms', keyVersion: env.KMS_KEY }] : [])],
      limits: maxEntriesPerRun !== undefined ? { maxEntriesPerRun } : {},
      ...(env.MONITOR_SHARD_TOPIC ? { shardTopic: env.MONITOR_SHARD_TOPIC } : {}),
    };
  }
  const parsed = (noLog ? NoLogMonitorConfigSchema : MonitorConfigSchema).safeParse(raw);
  if (!parsed.success) {
    throw new InvalidInputError(`invalid monitorLog configuration: ${z.prettifyError(parsed.error)}`);
  }
  // With no log there are no entries to pass over: the identities are read but not required.
  if (!noLog && parsed.data.identities.length === 0) throw noOwnedIdentitiesError();
  for (const [first, second] of identitiesDifferingOnlyInCase(parsed.data.identities)) {
    logger?.warn(
      'two owned certificate identities differ only in case (or a trailing slash of the issuer): ' +
        'identities are matched without regard to case, so they are one identity; remove one',
      { identities: [first, second] },
    );
  }
  const logs = parsed.data.logs.map((l) => ({ ...l, name: l.name ?? defaultLogName(l.url) }));
  const names = new Set(logs.map((l) => l.name));
  if (names.size !== logs.length) throw new InvalidInputError('two monitored logs have the same name');
  return { ...parsed.data, logs };
}
