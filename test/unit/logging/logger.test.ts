import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SigsentryError } from '../../../functions/errors.ts';
import { createLogger } from '../../../functions/logging/logger.ts';

describe('structured logger', () => {
  test('writes one JSON line per entry with severity and message', () => {
    const lines: string[] = [];
    const logger = createLogger({ function: 'signOnPush' }, (l) => lines.push(l)).child({ messageId: '7' });
    logger.alert('rogue signature', { logIndex: 12n });
    assert.equal(lines.length, 1);
    const entry = JSON.parse(lines[0]!);
    assert.equal(entry.severity, 'ALERT');
    assert.equal(entry.message, 'rogue signature');
    assert.equal(entry.function, 'signOnPush');
    assert.equal(entry.messageId, '7');
    assert.equal(entry.logIndex, '12');
  });

  test('never writes secrets, at any depth, nor inside errors', () => {
    const lines: string[] = [];
    const logger = createLogger({}, (l) => lines.push(l));
    const err = Object.assign(new SigsentryError('X', 'failed', { details: { digest: 'sha256:1' } }), {
      token: 'abc',
    });
    logger.error('oops', {
      headers: { Authorization: 'Bearer s3cr3t' },
      webhookUrl: 'https://hooks.example/s3cr3t',
      error: err,
      nested: [{ privateKey: 's3cr3t' }],
    });
    assert.doesNotMatch(lines[0]!, /s3cr3t|abc/);
    assert.match(lines[0]!, /sha256:1/);
  });
});
