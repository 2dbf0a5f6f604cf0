/**
 * What the CLI writes to a terminal. Much of it comes from others: a certificate's identity or a
 * statement's predicate type from a registry anyone can push to, a log's error text, alert
 * summaries read from Firestore. A terminal obeys control characters in that text (ESC and C1
 * sequences set the window title, move the cursor over earlier lines, or hide text), so every
 * line is written with them shown as `\uXXXX`, which also keeps JSON output valid and equal in
 * value (JSON.stringify escapes C0 controls, not DEL, C1 or bidirectional controls).
 */

/**
 * ASCII controls but tab and newline, DEL, C1 controls, and the bidirectional embeddings,
 * overrides and isolates that reorder what is displayed (Unicode TR9; "Trojan Source").
 */
const UNPRINTABLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `text` with each control character replaced by its `\uXXXX` escape. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Writes `text` to stdout as printable text. */
export function print(text: string): void {
  process.stdout.write(printable(text));
}
