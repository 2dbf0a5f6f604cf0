/**
 * Structured logging as Cloud Logging reads it: one JSON object per line on stdout, with
 * `severity` and `message` fields. Cloud Run turns each line into a log entry; locally the stack
 * captures the same lines into files that tests read.
 */

import { boundText, fitJson, type JsonFit, MAX_REASON_CHARS, toJson } from './bounded.ts';

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

/**
 * Cloud Logging drops a LogEntry over 256 KB, and an ALERT line is what pages: a longer line (a
 * field quoting a megabyte of others' text) is written with its strings bounded, and then, if still
 * too long, with as many of its fields as fit and `logTruncated` saying what was cut.
 */
export const MAX_LINE_BYTES = 200 * 1024;

const LINE_FIT: JsonFit = {
  maxBytes: MAX_LINE_BYTES,
  maxStringChars: MAX_REASON_CHARS,
  pinned: [...LINE_FIELDS],
  marker: 'logTruncated',
  markerChars: 1000,
  // The cap is the whole line's, marker included: room for its most bytes as JSON, 1,000 characters
  // at six bytes each at worst (a control character in a cut field's name is written `\u00XX`).
  markerRoom: 6 * 1000 + 32,
  describeWhole: (bytes, sha256) => `the line was ${bytes} bytes (sha256:${sha256})`,
};

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
      line = toJson(entry);
    } catch (err) {
      // A field that cannot be written (a throwing toJSON) must not turn a log call into a crash.
      line = JSON.stringify({
        severity,
        message,
        time: entry['time'],
        logError: `fields could not be written: ${(err as Error).message}`,
      });
    }
    // UTF-8 takes at most 3 bytes per UTF-16 unit: a shorter line needs no count.
    if (line.length > MAX_LINE_BYTES / 3 && Buffer.byteLength(line, 'utf8') > MAX_LINE_BYTES) {
      try {
        line = toJson(fitJson(entry, LINE_FIT, line));
      } catch {
        line = JSON.stringify({
          severity,
          message: boundText(message, MAX_REASON_CHARS),
          time: entry['time'],
          logTruncated: `the line was ${Buffer.byteLength(line, 'utf8')} bytes; its fields are left out`,
        });
      }
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
