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

  test('a secret nested past any depth is cut, not written; a cycle is broken, not thrown', () => {
    const lines: string[] = [];
    const logger = createLogger({}, (l) => lines.push(l));
    // A token on an error wrapped in errors, as retries wrap a client's failure.
    let err: Error = Object.assign(new Error('request failed'), {
      config: { headers: { Authorization: 'Bearer s3cr3t' } },
    });
    for (let i = 0; i < 20; i++)
      err = new SigsentryError('DEPENDENCY_FAILED', `attempt ${i}`, { cause: err });
    let deep: Record<string, unknown> = { password: 's3cr3t' };
    for (let i = 0; i < 30; i++) deep = { next: deep };
    logger.error('wrapped', { error: err, deep });
    assert.doesNotMatch(lines[0]!, /s3cr3t/);
    assert.match(lines[0]!, /nested too deep/);

    const loop: Record<string, unknown> = { name: 'a' };
    loop['self'] = loop;
    assert.doesNotThrow(() => logger.error('cyclic', { loop }));
    assert.equal(JSON.parse(lines[1]!).loop.self, '[circular]');
    // The same object twice, side by side, is not a cycle.
    const shared = { digest: 'sha256:2' };
    logger.info('shared', { a: shared, b: shared });
    assert.equal(JSON.parse(lines[2]!).b.digest, 'sha256:2');

    const throwing = {
      toJSON: () => {
        throw new Error('no');
      },
    };
    assert.doesNotThrow(() => logger.warn('odd', { value: { inner: [throwing] } }));
    assert.equal(JSON.parse(lines[3]!).severity, 'WARNING');
  });

  test("keeps the line's own severity, message and time whatever the fields say; dates as ISO strings; API keys and cookies redacted", () => {
    const lines: string[] = [];
    const logger = createLogger({}, (line) => lines.push(line));
    const at = new Date('2026-12-02T10:00:00.000Z');
    logger.info('the real message', {
      severity: 'HIGH',
      message: 'overridden',
      time: 'then',
      when: at,
      never: new Date(Number.NaN),
      apiKey: 'K1',
      headers: { cookie: 'sid=K2', 'x-goog-api-key': 'K3' },
      credentials: { client_email: 'K4' },
    });
    const line = JSON.parse(lines[0]!);
    assert.equal(line.severity, 'INFO', 'Cloud Logging reads the line severity');
    assert.equal(line.message, 'the real message');
    assert.notEqual(line.time, 'then');
    assert.equal(line['field.severity'], 'HIGH', "the caller's field is kept beside");
    assert.equal(line['field.message'], 'overridden');
    assert.equal(line.when, '2026-12-02T10:00:00.000Z');
    assert.equal(line.never, 'Invalid Date');
    assert.doesNotMatch(lines[0]!, /K1|K2|K3|K4/);
  });
});
