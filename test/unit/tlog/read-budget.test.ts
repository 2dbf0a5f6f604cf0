/**
 * The read budget a scan's answers share (read-budget.ts), alone and as body.ts reads through it:
 * the batch waited for never waits, the batches read ahead wait for room, nothing holds more than
 * the budget, a batch past half of it is the log fault it is, and a read waiting for room is not
 * timed out meanwhile.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DependencyError } from '../../../functions/errors.ts';
import { readBodyBytes } from '../../../functions/tlog/client/body.ts';
import { LogResponseTooLargeError } from '../../../functions/tlog/client/errors.ts';
import { request } from '../../../functions/tlog/client/http.ts';
import { ReadBudget } from '../../../functions/tlog/client/read-budget.ts';

const KiB = 1024;
const read = (n: number) => ({
  what: `entry bundle ${n}`,
  url: `https://log.example/tile/entries/${n}`,
  limit: 1e9,
});

describe('ReadBudget', () => {
  it('never keeps the head waiting; reads ahead wait for room, the next batch first', async () => {
    const budget = new ReadBudget(200);
    const [head, second, third, fourth] = [0, 1, 2, 3].map((i) => budget.open({ start: i, end: i + 1 }));
    assert.equal(head!.take(100, read(0)), undefined, 'the head takes its half at once');
    for (const [account, bytes] of [
      [second!, 10],
      [third!, 45],
      [fourth!, 45],
    ] as const) {
      assert.equal(account.take(bytes, read(1)), undefined, 'reads ahead take what fits the other half');
    }
    const order: string[] = [];
    const fourthWaits = fourth!.take(10, read(3));
    const thirdWaits = third!.take(10, read(2));
    assert.ok(
      fourthWaits instanceof Promise && thirdWaits instanceof Promise,
      'past the other half: both wait',
    );
    void fourthWaits.then(() => order.push('fourth'));
    void thirdWaits.then(() => order.push('third'));
    second!.give(10); // a read of the second batch failed: room for one of them, the earlier batch's
    await sleep(0);
    assert.deepEqual(order, ['third']);
    head!.close(); // the second batch is the head now; what the third and fourth hold fills the half
    await sleep(0);
    assert.deepEqual(order, ['third']);
    second!.close();
    await sleep(0);
    assert.deepEqual(order, ['third', 'fourth']);
    assert.equal(budget.heldBytes, 110);
    assert.ok(budget.peakBytes <= 200, `held at most the budget, not ${budget.peakBytes}`);
  });

  it("lets an earlier batch's read that fits go on at once, though a later batch's read waits (found by review)", async () => {
    const r = { what: 'entries', url: 'https://log.example/x', limit: 1e9 };
    const budget = new ReadBudget(200); // the batches ahead share 100
    budget.open({ start: 0, end: 1 });
    const second = budget.open({ start: 1, end: 2 });
    const third = budget.open({ start: 2, end: 3 });
    assert.equal(second.take(45, r), undefined);
    assert.equal(third.take(50, r), undefined);
    const thirdWaits = third.take(10, r); // 105 of 100: waits
    assert.ok(thirdWaits instanceof Promise);
    thirdWaits.catch(() => {});
    const secondTakes = second.take(3, r); // 98 of 100: fits, and goes before the later batch
    let went = secondTakes === undefined;
    await secondTakes?.then(() => {
      went = true;
    });
    assert.ok(went);
    assert.equal(budget.heldBytes, 98);
    budget.end();
  });

  it('refuses a batch past half the budget, naming the read and the batch', () => {
    const budget = new ReadBudget(100);
    const head = budget.open({ start: 256, end: 512 });
    assert.equal(head.take(40, read(1)), undefined);
    assert.throws(
      () => head.take(11, read(1)),
      (err: unknown) =>
        err instanceof LogResponseTooLargeError &&
        err.limit === 50 &&
        err.reason === 'response-too-large' &&
        err.message.includes('https://log.example/tile/entries/1') &&
        err.message.includes('[256, 512)') &&
        err.details['logIndex'] === 256,
    );
  });

  it('frees what a failed read gave back and what a closed batch held; its waiting reads fail', async () => {
    const budget = new ReadBudget(100);
    const head = budget.open({ start: 0, end: 1 });
    budget.open({ start: 1, end: 2 }).take(40, read(1));
    const ahead = budget.open({ start: 2, end: 3 });
    head.take(30, read(0));
    const waiting = ahead.take(20, read(2))!;
    head.give(30);
    assert.equal(budget.heldBytes, 40, 'the head gave back its 30; the read ahead still waits');
    budget.end();
    await assert.rejects(
      waiting,
      (err: unknown) => err instanceof DependencyError && /scan .* has ended/.test(String(err)),
    );
    assert.equal(budget.heldBytes, 0);
    assert.throws(() => ahead.take(1, read(2)), DependencyError);
  });

  it('says why a batch dropped to be read again in smaller batches left its reads unread', async () => {
    const budget = new ReadBudget(100);
    budget.open({ start: 0, end: 1 });
    budget.open({ start: 1, end: 2 }).take(50, read(1));
    const ahead = budget.open({ start: 2, end: 3 });
    const waiting = ahead.take(20, read(2))!;
    ahead.close('its batch is read again in smaller batches');
    await assert.rejects(waiting, /left unread: its batch is read again in smaller batches/);
    assert.throws(() => ahead.take(1, read(2)), /read again in smaller batches/);
    budget.end();
  });
});

describe('reading answers through the budget', () => {
  let server: Server;
  let base: string;
  const BODY = 400 * KiB;

  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/broken') {
        res.writeHead(200, { 'content-length': String(BODY) });
        res.write(Buffer.alloc(100 * KiB, 1));
        setTimeout(() => res.destroy(), 20);
        return;
      }
      res.writeHead(200, { 'content-length': String(BODY) });
      res.end(Buffer.alloc(BODY, 7));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  const get = async (path: string, timeoutMs = 2000): Promise<Buffer> => {
    const url = `${base}${path}`;
    const res = await request(url, {}, { timeoutMs, retries: 0, fetch });
    return readBodyBytes(res, { what: `answer ${path}`, url, limit: BODY });
  };

  it('holds at most the budget over many reads, with no read timed out while it waits', async () => {
    // Half of 2 MiB holds a batch of two answers; the batches after the head share the other half.
    const budget = new ReadBudget(2048 * KiB);
    const head = budget.open({ start: 0, end: 2 });
    const ahead = budget.open({ start: 2, end: 4 });
    const later = budget.open({ start: 4, end: 6 });
    const done = new Set<string>();
    const start = (account: typeof head, path: string, timeoutMs: number) =>
      account
        .run(() => get(path, timeoutMs))
        .then((b) => {
          done.add(path);
          return b;
        });
    const aheadReads = ['/a2', '/a3'].map((p) => start(ahead, p, 300));
    const laterReads = ['/a4', '/a5'].map((p) => start(later, p, 300));
    const headReads = ['/a0', '/a1'].map((p) => start(head, p, 2000));
    assert.ok((await Promise.all(headReads)).every((b) => b.length === BODY));
    // Four answers ahead do not fit the 1 MiB they share: some wait, longer than their 300 ms
    // timeout, until the head is processed. That wait is the scan's, not the log's.
    await sleep(600);
    assert.ok(done.size < 6, 'some read ahead waits for room');
    assert.ok(budget.heldBytes <= 2048 * KiB);
    head.close();
    assert.ok((await Promise.all(aheadReads)).every((b) => b.length === BODY));
    ahead.close();
    assert.ok((await Promise.all(laterReads)).every((b) => b.length === BODY));
    assert.ok(budget.peakBytes <= 2048 * KiB, `peak ${budget.peakBytes}`);
    budget.end();
  });

  it('gives back the bytes of a read that fails, and stops a read whose batch is abandoned', async () => {
    const budget = new ReadBudget(1024 * KiB);
    const head = budget.open({ start: 0, end: 1 });
    await assert.rejects(
      head.run(() => get('/broken')),
      (err: unknown) => err instanceof DependencyError && err.message.includes('/broken'),
    );
    assert.equal(budget.heldBytes, 0, 'a failed read holds nothing');
    budget.open({ start: 1, end: 2 }).take(300 * KiB, read(1));
    let settled = false;
    const waiting = budget
      .open({ start: 2, end: 3 })
      .run(() => get('/b2'))
      .finally(() => {
        settled = true;
      });
    await sleep(200);
    assert.equal(settled, false, 'the read waits for room');
    assert.ok(budget.heldBytes <= 1024 * KiB);
    budget.end();
    await assert.rejects(waiting, DependencyError);
    assert.equal(budget.heldBytes, 0);
  });
});
