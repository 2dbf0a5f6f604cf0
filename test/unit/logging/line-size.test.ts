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
