/**
 * The log clients' default transport (client/node-fetch.ts) leaves a gzipped body as sent, and
 * body.ts inflates it in one call: the answer must read as fetch would read it, within the same
 * limits, counted in the scan's read budget at its inflated size, and every way it can go wrong
 * must be a clear error. Against a loopback server.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { DependencyError, SigsentryError } from '../../../functions/errors.ts';
import { readBodyBytes } from '../../../functions/tlog/client/body.ts';
import { request } from '../../../functions/tlog/client/http.ts';
import { logFetch } from '../../../functions/tlog/client/node-fetch.ts';
import { BatchOverBudgetError, ReadBudget } from '../../../functions/tlog/client/read-budget.ts';
import { type Answer, AnsweringServer } from '../../helpers/answering-server.ts';

const encoded =
  (body: Buffer, encoding = 'gzip'): Answer =>
  (_req, res) => {
    res.writeHead(200, { 'content-encoding': encoding, 'content-length': body.length });
    res.end(body);
  };

const http = { timeoutMs: 2000, retries: 0, fetch: logFetch };

/** Reads `path` of the server as the log clients do: request(), then a bounded body read. */
async function read(server: AnsweringServer, path: string, limit: number): Promise<Buffer> {
  const url = `${server.url}${path}`;
  return readBodyBytes(await request(url, {}, http), { what: 'entry bundle 0', url, limit });
}

describe('logFetch: gzipped log answers, inflated at once by the client', () => {
  const server = new AnsweringServer();
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

  it('a redirect is not followed: the place it points to is never asked, and the error names both without their query', async () => {
    const elsewhere = new AnsweringServer();
    await elsewhere.start();
    try {
      elsewhere.answer = encoded(gzipSync(Buffer.from('elsewhere')));
      server.answer = (_req, res) =>
        res.writeHead(302, { location: `${elsewhere.url}/tile/entries/000?X-Goog-Signature=SECRET` }).end();
      await assert.rejects(read(server, '/tile/entries/000?token=SECRET', 100), (err: unknown) => {
        assert.ok(err instanceof SigsentryError, String(err));
        assert.equal(err.code, 'LOG_REDIRECTED');
        assert.equal(err.retryable, false, 'a configured URL that redirects is not mended by a retry');
        assert.match(
          err.message,
          /answered 302 to http:\/\/127\.0\.0\.1:\d+\/tile\/entries\/000, a redirect to http:\/\/127\.0\.0\.1:\d+\/tile\/entries\/000, which is not followed/,
        );
        assert.ok(!JSON.stringify({ m: err.message, d: err.details }).includes('SECRET'), err.message);
        return true;
      });
      assert.equal(elsewhere.asked.length, 0);
    } finally {
      await elsewhere.close();
    }
  });

  it('an answer of 101 (no upgrade was asked for) fails the request at once, and it is retried', async () => {
    const raw = createNetServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () =>
        socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n'),
      );
    });
    raw.listen(0, '127.0.0.1');
    await once(raw, 'listening');
    try {
      const url = `http://127.0.0.1:${(raw.address() as AddressInfo).port}/checkpoint`;
      const started = performance.now();
      await assert.rejects(request(url, {}, { ...http, retries: 1, timeoutMs: 5000 }), (err: unknown) => {
        assert.ok(err instanceof DependencyError, String(err));
        assert.match(err.message, /101 Switching Protocols, which was not asked for/);
        return true;
      });
      assert.ok(performance.now() - started < 2500, 'not left to the deadline');
    } finally {
      raw.close();
    }
  });

  it('a kept-alive connection closed while idle is replaced, not counted as the log failing', async () => {
    // Connections opened before `forgotten` changes are reset when used again, as a load balancer
    // or NAT that dropped them idle does; new ones are answered.
    let generation = 0;
    let opened = 0;
    const raw = createNetServer((socket) => {
      const born = generation;
      opened++;
      socket.on('error', () => {});
      socket.on('data', () => {
        if (born < generation) socket.resetAndDestroy();
        else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=60\r\n\r\nok');
      });
    });
    raw.listen(0, '127.0.0.1');
    await once(raw, 'listening');
    try {
      const url = `http://127.0.0.1:${(raw.address() as AddressInfo).port}/checkpoint`;
      const get = async () =>
        readBodyBytes(await request(url, {}, http), { what: 'checkpoint', url, limit: 10 });
      await Promise.all([get(), get(), get()]); // three connections kept alive
      assert.equal(opened, 3);
      generation++;
      // No retries in `http`: only the transport's own replacement of the dropped connections helps.
      assert.deepEqual(await get(), Buffer.from('ok'));
      assert.equal(opened, 4, 'the dropped connections were given up, one new one made');
    } finally {
      raw.close();
    }
  });

  it('with NODE_USE_ENV_PROXY=1, requests go through HTTP_PROXY as fetch sends them', async () => {
    // A plain HTTP proxy: it answers the absolute URL it is asked for (the log's host does not exist).
    const proxied: string[] = [];
    const proxy = createServer((req, res) => {
      proxied.push(req.url ?? '');
      res.writeHead(200, { 'content-length': '2' }).end('ok');
    });
    proxy.listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    try {
      // The agents read the variables when the module loads: a process of its own.
      const script = [
        `import { logFetch } from ${JSON.stringify(new URL('../../../functions/tlog/client/node-fetch.ts', import.meta.url).href)};`,
        "const res = await logFetch('http://log.invalid/checkpoint');",
        'console.log(res.status, await res.text());',
      ].join('\n');
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        env: {
          ...process.env,
          NODE_USE_ENV_PROXY: '1',
          HTTP_PROXY: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
          NO_PROXY: '',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
      });
      const [code] = await once(child, 'exit');
      assert.equal(code, 0);
      assert.equal(out.trim(), '200 ok');
      assert.deepEqual(proxied, ['http://log.invalid/checkpoint']);
    } finally {
      proxy.close();
    }
  });

  it('asks as sigsentry, and reads an empty gzipped body as empty', async () => {
    let userAgent: string | undefined;
    server.answer = (req, res) => {
      userAgent = req.headers['user-agent'];
      encoded(gzipSync(Buffer.alloc(0)))(req, res);
    };
    assert.deepEqual(await read(server, '/empty', 100), Buffer.alloc(0));
    assert.equal(userAgent, 'sigsentry');
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

  it('a body cut off by the server is a retryable failure naming the answer, not a short read', async () => {
    server.answer = (_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write(Buffer.alloc(100, 0x61));
      setTimeout(() => res.socket?.destroy(), 20);
    };
    const url = `${server.url}/cut`;
    const res = await request(url, {}, http);
    await assert.rejects(
      readBodyBytes(res, { what: 'entry bundle 0', url, limit: 10_000 }),
      (err: unknown) => {
        assert.ok(err instanceof DependencyError, String(err));
        assert.equal(err.retryable, true);
        assert.match(err.message, /reading the entry bundle 0 at .*\/cut failed/);
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

  it('an answer that does not compress counts once, not as its gzip and its bytes together', async () => {
    // 400,000 bytes of noise gzip to a little more: a batch may hold 500,000, so the read fits only
    // if what is held while it inflates is counted once.
    const noise = randomBytes(400_000);
    const gzipped = gzipSync(noise);
    assert.ok(gzipped.length > noise.length);
    server.answer = encoded(gzipped);
    const budget = new ReadBudget(1_000_000);
    const account = budget.open({ start: 0, end: 256 });
    assert.deepEqual(await account.run(() => read(server, '/tile/entries/000', 500_000)), noise);
    assert.equal(account.heldBytes, noise.length);
    account.close();
  });
});
