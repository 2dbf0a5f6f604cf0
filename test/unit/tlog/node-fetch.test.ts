/**
 * The log clients' default transport (client/node-fetch.ts) leaves a gzipped body as sent, and
 * body.ts inflates it in one call: the answer must read as fetch would read it, within the same
 * limits, counted in the scan's read budget at its inflated size, and every way it can go wrong
 * must be a clear error. Against a loopback server.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { DependencyError } from '../../../functions/errors.ts';
import { readBodyBytes } from '../../../functions/tlog/client/body.ts';
import { LogHttpError, request } from '../../../functions/tlog/client/http.ts';
import { logFetch } from '../../../functions/tlog/client/node-fetch.ts';
import { BatchOverBudgetError, ReadBudget } from '../../../functions/tlog/client/read-budget.ts';

type Answer = (req: IncomingMessage, res: ServerResponse) => void;

class LoopbackServer {
  readonly asked: { path: string; acceptEncoding: string | undefined }[] = [];
  answer: Answer = (_req, res) => res.writeHead(404).end();
  private readonly server: Server = createServer((req, res) => {
    this.asked.push({ path: req.url ?? '', acceptEncoding: req.headers['accept-encoding'] });
    this.answer(req, res);
  });
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
  }
  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

const encoded =
  (body: Buffer, encoding = 'gzip'): Answer =>
  (_req, res) => {
    res.writeHead(200, { 'content-encoding': encoding, 'content-length': body.length });
    res.end(body);
  };

const http = { timeoutMs: 2000, retries: 0, fetch: logFetch };

/** Reads `path` of the server as the log clients do: request(), then a bounded body read. */
async function read(server: LoopbackServer, path: string, limit: number): Promise<Buffer> {
  const url = `${server.url}${path}`;
  return readBodyBytes(await request(url, {}, http), { what: 'entry bundle 0', url, limit });
}

describe('logFetch: gzipped log answers, inflated at once by the client', () => {
  const server = new LoopbackServer();
  before(() => server.start());
  after(() => server.close());
  beforeEach(() => {
    server.asked.length = 0;
  });

  it('asks for gzip and reads a gzipped entry bundle as the bytes the log meant', async () => {
    const bundle = randomBytes(300_000);
    server.answer = encoded(gzipSync(bundle));
    assert.deepEqual(await read(server, '/tile/entries/000', 300_000), bundle);
    assert.deepEqual(server.asked, [{ path: '/tile/entries/000', acceptEncoding: 'gzip' }]);
  });

  it('reads a body of several gzip members (RFC 1952) whole, and refuses one past the limit', async () => {
    const parts = [randomBytes(1000), randomBytes(3000)];
    server.answer = encoded(Buffer.concat(parts.map((p) => gzipSync(p))));
    // The trailer states the last member's size (3000), not the body's (4000).
    assert.deepEqual(await read(server, '/a', 4000), Buffer.concat(parts));
    await assert.rejects(read(server, '/a', 3999), (err: unknown) => {
      assert.equal((err as Error).constructor.name, 'LogResponseTooLargeError');
      assert.match((err as Error).message, /limit of 3999 bytes \(it inflates past it\)/);
      return true;
    });
  });

  it('a gzip body cut short, or not gzip, is a retryable failure naming the answer, not a crash', async () => {
    const whole = gzipSync(randomBytes(5000));
    for (const body of [whole.subarray(0, whole.length - 8), Buffer.from('not gzip at all')]) {
      server.answer = encoded(body);
      await assert.rejects(read(server, '/tile/entries/000', 10_000), (err: unknown) => {
        assert.ok(err instanceof DependencyError, String(err));
        assert.equal(err.retryable, true);
        assert.match(err.message, /entry bundle 0 at http:\/\/127\.0\.0\.1:\d+\/tile\/entries\/000/);
        assert.match(err.message, /does not inflate/);
        return true;
      });
    }
  });

  it('a content coding that was not asked for is refused, naming it', async () => {
    server.answer = encoded(brotliCompressSync(randomBytes(100)), 'br');
    await assert.rejects(read(server, '/b', 10_000), (err: unknown) => {
      assert.ok(err instanceof DependencyError, String(err));
      assert.match(err.message, /Content-Encoding br, which was not asked for \(Accept-Encoding: gzip\)/);
      return true;
    });
  });

  it('a redirect is not followed: the place it points to is never asked, and the error names it', async () => {
    const elsewhere = new LoopbackServer();
    await elsewhere.start();
    try {
      elsewhere.answer = encoded(gzipSync(Buffer.from('elsewhere')));
      server.answer = (_req, res) =>
        res.writeHead(302, { location: `${elsewhere.url}/tile/entries/000` }).end();
      await assert.rejects(read(server, '/tile/entries/000', 100), (err: unknown) => {
        assert.ok(err instanceof LogHttpError, String(err));
        assert.equal(err.status, 302);
        assert.match(
          err.message,
          /a redirect to http:\/\/127\.0\.0\.1:\d+\/tile\/entries\/000, which is not followed/,
        );
        return true;
      });
      assert.equal(elsewhere.asked.length, 0);
    } finally {
      await elsewhere.close();
    }
  });

  it('a body that stops coming fails at the request deadline, with the deadline as the reason', async () => {
    server.answer = (_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': '1000' });
      res.write(gzipSync(randomBytes(100)).subarray(0, 20));
    };
    const url = `${server.url}/stalled`;
    const res = await request(url, {}, { ...http, timeoutMs: 200 });
    await assert.rejects(
      readBodyBytes(res, { what: 'entry bundle 0', url, limit: 10_000 }),
      (err: unknown) => {
        assert.ok(err instanceof DependencyError, String(err));
        assert.match(err.message, /timed out after 200 ms/);
        return true;
      },
    );
  });

  it('in a scan, a gzipped answer counts at its inflated size, and one past half the budget is refused', async () => {
    const bundle = randomBytes(200_000);
    const gzipped = gzipSync(bundle);
    server.answer = encoded(gzipped);
    const budget = new ReadBudget(1_000_000);
    const account = budget.open({ start: 0, end: 256 });
    const body = await account.run(() => read(server, '/tile/entries/000', 300_000));
    assert.deepEqual(body, bundle);
    assert.equal(account.heldBytes, bundle.length, 'the inflated bytes, not the gzipped ones too');
    account.close();

    // Its trailer says 600,000 bytes: past the 500,000 a batch may hold, refused as the scan
    // expects (it reads the batch again in halves), with nothing of it left counted.
    server.answer = encoded(gzipSync(randomBytes(600_000)));
    const next = budget.open({ start: 256, end: 512 });
    await assert.rejects(
      next.run(() => read(server, '/tile/entries/001', 700_000)),
      (err: unknown) => err instanceof BatchOverBudgetError,
    );
    assert.equal(next.heldBytes, 0);
    next.close();
    assert.equal(budget.heldBytes, 0);
  });
});
