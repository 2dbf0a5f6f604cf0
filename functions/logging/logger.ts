/**
 * Structured logging as Cloud Logging reads it: one JSON object per line on stdout, with
 * `severity` and `message` fields. Cloud Run turns each line into a log entry; locally the stack
 * captures the same lines into files that tests read.
 */

export type Severity = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR' | 'CRITICAL' | 'ALERT';

export type LogFields = Record<string, unknown>;

export interface Logger {
  log(severity: Severity, message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  notice(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  alert(message: string, fields?: LogFields): void;
  /** A logger whose lines carry `fields` in addition to their own. */
  child(fields: LogFields): Logger;
}

export type LineSink = (line: string) => void;

// Keys whose values must never reach a log line, whatever the caller passes.
const SECRET_KEY =
  /(secret|password|token|authorization|private.?key|webhook.?url|api.?key|cookie|credential)/i;

// The line's own fields, which Cloud Logging reads: a caller's field of the same name is kept beside.
const LINE_FIELDS = new Set(['severity', 'message', 'time']);

// Deeper values are cut rather than written unredacted.
const MAX_DEPTH = 12;

/**
 * A copy of `value` with secret-named fields replaced, cut below MAX_DEPTH, and cycles broken
 * (`ancestors` holds the objects above this one), so what reaches JSON.stringify can always be
 * written and never carries a secret.
 */
function redact(value: unknown, depth = 0, ancestors: Set<object> = new Set()): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  if (ancestors.has(value)) return '[circular]';
  if (depth > MAX_DEPTH) return '[nested too deep]';
  ancestors.add(value);
  try {
    const child = (v: unknown) => redact(v, depth + 1, ancestors);
    const fields = (entries: Array<[string, unknown]>, out: LogFields): LogFields => {
      for (const [k, v] of entries) out[k] = SECRET_KEY.test(k) ? '[redacted]' : child(v);
      return out;
    };
    if (value instanceof Error) {
      // Typed errors flatten themselves (code, digest, log index); others give their own fields.
      const own = 'toJSON' in value && typeof value.toJSON === 'function' ? value.toJSON() : { ...value };
      const out = fields(Object.entries(own), { name: value.name, message: value.message });
      if (value.cause !== undefined) out['cause'] = child(value.cause);
      return out;
    }
    if (Array.isArray(value)) return value.map(child);
    return fields(Object.entries(value), {});
  } finally {
    ancestors.delete(value);
  }
}

export function createLogger(
  base: LogFields = {},
  sink: LineSink = (line) => process.stdout.write(`${line}\n`),
): Logger {
  const log = (severity: Severity, message: string, fields: LogFields = {}): void => {
    const entry: LogFields = { severity, message, time: new Date().toISOString() };
    for (const [k, v] of Object.entries(redact({ ...base, ...fields }) as LogFields)) {
      entry[LINE_FIELDS.has(k) ? `field.${k}` : k] = v;
    }
    let line: string;
    try {
      line = JSON.stringify(entry, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
    } catch (err) {
      // A field that cannot be written (a throwing toJSON) must not turn a log call into a crash.
      line = JSON.stringify({
        severity,
        message,
        time: entry['time'],
        logError: `fields could not be written: ${(err as Error).message}`,
      });
    }
    sink(line);
  };
  return {
    log,
    debug: (m, f) => log('DEBUG', m, f),
    info: (m, f) => log('INFO', m, f),
    notice: (m, f) => log('NOTICE', m, f),
    warn: (m, f) => log('WARNING', m, f),
    error: (m, f) => log('ERROR', m, f),
    alert: (m, f) => log('ALERT', m, f),
    child: (fields) => createLogger({ ...base, ...fields }, sink),
  };
}

/** A logger that keeps its entries in memory, for tests and for the CLI's --json output. */
export function createMemoryLogger(): Logger & {
  entries: Array<LogFields & { severity: Severity; message: string }>;
} {
  const entries: Array<LogFields & { severity: Severity; message: string }> = [];
  const logger = createLogger({}, (line) => entries.push(JSON.parse(line)));
  return Object.assign(logger, { entries });
}
