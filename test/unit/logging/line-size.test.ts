/**
 * Cloud Logging drops a LogEntry over 256 KB, and an ALERT line is what pages: a line whose fields
 * quote a megabyte of others' text is still written, under the limit, saying what was cut.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger } from '../../../functions/logging/logger.ts';

const LOG_ENTRY_LIMIT = 256 * 1024;
/** What the logger keeps a line under (logger.ts MAX_LINE_BYTES), with room for Cloud Logging's own fields. */
const MAX_LINE_BYTES = 200 * 1024;
const bytes = (line: string) => Buffer.byteLength(line, 'utf8');

describe('log line size', () => {
  test('bounds each string of an oversized line, keeping every field', () => {
    const lines: string[] = [];
    const logger = createLogger({ command: 'reverify' }, (l) => lines.push(l));
    const issuer = `https://issuer.example/${'A'.repeat(400 * 1024)}`;
    logger.error(`could not verify: signed via ${issuer}`, { ref: 'r:prod', reason: issuer, logIndex: 7n });
    assert.equal(lines.length, 1);
    assert.ok(
      bytes(lines[0]!) <= MAX_LINE_BYTES && MAX_LINE_BYTES < LOG_ENTRY_LIMIT,
      `${bytes(lines[0]!)} bytes`,
    );
    const entry = JSON.parse(lines[0]!);
    assert.equal(entry.severity, 'ERROR');
    assert.equal(entry.ref, 'r:prod');
    assert.equal(entry.logIndex, '7');
    assert.ok(entry.message.startsWith('could not verify: signed via https://issuer.example/AAA'));
    assert.match(entry.reason, /…\[truncated: \d+ bytes, sha256:[0-9a-f]{64}\]$/);
  });

  test('stays under the cap when the names of the fields cut are long and escaped (the marker too)', () => {
    const lines: string[] = [];
    const logger = createLogger({}, (l) => lines.push(l));
    const fields: Record<string, unknown> = {};
    const big = Array.from({ length: 100 }, () => 'x'.repeat(4000));
    // Names JSON writes at six bytes a character (`\u0001`) or three (`中`), cut whole.
    for (let i = 0; i < 3; i++) fields[`${'\u0001'.repeat(330)}${i}`] = big;
    for (let i = 0; i < 3; i++) fields[`${'中'.repeat(330)}${i}`] = big;
    for (let i = 0; i < 49; i++) fields[`f${i}`] = 'a'.repeat(4000);
    // Small fields of halving sizes, so the kept ones fill the line to within a few bytes of the cap.
    for (let size = 2048, i = 0; size >= 1; size = Math.floor(size / 2), i++) {
      fields[`g${i}`] = 'b'.repeat(size);
      fields[`h${i}`] = 'c'.repeat(size);
    }
    logger.error('m', fields);
    assert.ok(bytes(lines[0]!) <= MAX_LINE_BYTES, `${bytes(lines[0]!)} bytes`);
    assert.match(
      JSON.parse(lines[0]!).logTruncated,
      /^the line was \d+ bytes \(sha256:[0-9a-f]{64}\); cut: /,
    );
  });

  test('drops fields that still do not fit, and says which', () => {
    const lines: string[] = [];
    const logger = createLogger({}, (l) => lines.push(l));
    const many = Array.from({ length: 200 }, (_, i) => `\u009b${'x'.repeat(4000)}${i}`);
    logger.alert('unsigned-image: r:prod', { alert: { kind: 'unsigned-image' }, findings: many });
    const entry = JSON.parse(lines[0]!);
    assert.ok(bytes(lines[0]!) <= MAX_LINE_BYTES, `${bytes(lines[0]!)} bytes`);
    assert.equal(entry.severity, 'ALERT');
    assert.deepEqual(entry.alert, { kind: 'unsigned-image' });
    assert.match(entry.logTruncated, /cut: findings/);
  });

  test('leaves a line under the limit exactly as it was', () => {
    const lines: string[] = [];
    createLogger({}, (l) => lines.push(l)).info('hello', { text: 'y'.repeat(100 * 1024) });
    assert.equal(JSON.parse(lines[0]!).text.length, 100 * 1024);
  });
});
