/**
 * What the CLI writes to a terminal. Much of it comes from others: a certificate's identity or a
 * statement's predicate type from a registry anyone can push to, a log's error text, alert
 * summaries read from Firestore. A terminal obeys control characters in that text (ESC and C1
 * sequences set the window title, move the cursor over earlier lines, or hide text), so every
 * line is written with them shown as `\uXXXX`, which also keeps JSON output valid and equal in
 * value (JSON.stringify escapes C0 controls, not DEL, C1 or bidirectional controls).
 */

import { LINE_BREAKS, showUnprintable } from '../logging/bounded.ts';

/** `text` with each control, bidirectional or zero-width character shown as its `\uXXXX` escape. */
export const printable = showUnprintable;

/** Writes `text` to stdout as printable text. */
export function print(text: string): void {
  process.stdout.write(printable(text));
}

const LINE_BREAK_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\r\n': '\\r\\n' };

/**
 * A value from the data for one line of text output: `printable`, and its line breaks shown as
 * escapes too, so only the CLI's own templates start lines (a certificate SAN cannot print a forged
 * "OK valid" line under the real verdict).
 */
export function inline(text: string): string {
  return printable(
    text.replace(
      LINE_BREAKS,
      (c) => LINE_BREAK_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    ),
  );
}

/**
 * The CLI's log lines (logging/logger.ts createLogger's sink): to stderr, so that --json output on
 * stdout stays parseable, each as printable JSON. JSON.stringify leaves C1 controls, bidirectional
 * controls and U+2028/U+2029 raw; as `\uXXXX` escapes the line is the same JSON.
 */
export function terminalLogSink(
  write: (chunk: string) => void = (chunk) => process.stderr.write(chunk),
): (line: string) => void {
  // A JSON line holds no raw CR, LF, VT or FF (JSON.stringify escapes them): `inline` escapes the rest.
  return (line) => write(`${inline(line)}\n`);
}
