/**
 * The log clients' default fetch: node:http(s), with the body left as the log sent it. fetch
 * (undici) inflates a gzipped answer as a stream, chunk by chunk through zlib's thread pool and
 * WHATWG streams, which was a fifth of a v2 scan's CPU (tlog-tiles has logs gzip entry bundles).
 * body.ts inflates such a body in one call instead, bounded by its limit (encodedBodyOf).
 *
 * Only what the log clients use is supported: a string or no request body, no Request objects.
 * Redirects are not followed: request() refuses them (http.ts).
 */
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';

/**
 * Kept-alive connections, as fetch keeps them; idle sockets do not hold the process open. An idle
 * one is closed after 4 s, or sooner if the server's `Keep-Alive: timeout` says so (Node honours
 * the hint only below the agent's timeout), as undici does: a load balancer or NAT drops idle flows.
 * The proxy variables are read when Node is told to read them, as fetch does.
 */
const useEnvProxy = process.env.NODE_USE_ENV_PROXY === '1' || process.execArgv.includes('--use-env-proxy');
const agentOptions = { keepAlive: true, timeout: 4000, ...(useEnvProxy ? { proxyEnv: process.env } : {}) };
const agents = {
  'http:': new http.Agent(agentOptions),
  'https:': new https.Agent(agentOptions),
} as const;

/** Sent with every request, as fetch sends `node`: a log's operators can tell who reads. */
const USER_AGENT = 'sigsentry';

/**
 * How often a request is sent again at once when a kept-alive connection it reused turns out to
 * be closed (the server or a middlebox dropped it idle): each failure discards that connection.
 */
const STALE_CONNECTION_RETRIES = 3;

/** Responses whose body is still in the Content-Encoding they name (lower-cased). */
const encodedBodies = new WeakMap<Response, string>();

/**
 * The content coding a response's body is still in, for a response of logFetch whose answer named
 * one other than identity; undefined for a body that is as it is meant (every fetch's response).
 */
export function encodedBodyOf(res: Response): string | undefined {
  return encodedBodies.get(res);
}

export async function logFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  if (input instanceof Request) throw new TypeError('logFetch takes a URL, not a Request');
  if (init.body !== undefined && init.body !== null && typeof init.body !== 'string') {
    throw new TypeError('logFetch sends a string body only');
  }
  const url = new URL(String(input));
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`logFetch reads http and https URLs, not ${url.protocol}`);
  }
  const headers = new Headers(init.headers);
  // tlog-tiles: clients ask for gzip, which logs serve entry bundles in. Nothing else is inflated.
  if (!headers.has('accept-encoding')) headers.set('accept-encoding', 'gzip');
  if (!headers.has('user-agent')) headers.set('user-agent', USER_AGENT);
  const body = typeof init.body === 'string' ? Buffer.from(init.body) : undefined;
  if (body !== undefined) headers.set('content-length', String(body.length));
  const method = init.method ?? 'GET';
  const signal = init.signal ?? undefined;
  signal?.throwIfAborted();

  const options: http.RequestOptions = {
    method,
    headers: Object.fromEntries(headers),
    agent: agents[url.protocol as 'http:' | 'https:'],
  };
  for (let attempt = 0; ; attempt++) {
    try {
      return await send(url, options, body, signal);
    } catch (err) {
      if (!(err instanceof StaleConnectionError && attempt < STALE_CONNECTION_RETRIES)) {
        throw err instanceof StaleConnectionError ? err.cause : err;
      }
    }
  }
}

/** A kept-alive connection that failed before any answer came: the request was not read. */
class StaleConnectionError extends Error {}

function send(
  url: URL,
  options: http.RequestOptions,
  body: Buffer | undefined,
  signal: AbortSignal | undefined,
): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).request(url, options);
    // The deadline's reason (deadline.ts) is what a request cut short fails with, headers or body.
    let answer: http.IncomingMessage | undefined;
    const onAbort = (): void => {
      req.destroy(signal?.reason);
      answer?.destroy(signal?.reason);
    };
    const forget = (): void => signal?.removeEventListener('abort', onAbort);
    signal?.addEventListener('abort', onAbort, { once: true });
    // `on`, not `once`: a socket can fail twice, and an unheard 'error' would end the process.
    req.on('error', (err: NodeJS.ErrnoException) => {
      forget();
      const stale =
        req.reusedSocket &&
        answer === undefined &&
        !signal?.aborted &&
        (err.code === 'ECONNRESET' || err.code === 'EPIPE');
      reject(stale ? new StaleConnectionError('a kept-alive connection was closed', { cause: err }) : err);
    });
    // An answer of 101 (no upgrade was asked for) comes as neither 'response' nor 'error'.
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      forget();
      reject(new Error('the log answered 101 Switching Protocols, which was not asked for'));
    });
    // Whatever else ends the request without an answer settles it too (a settled promise ignores it).
    req.once('close', () => {
      if (answer !== undefined) return;
      forget();
      reject(signal?.reason ?? new Error('the connection closed before an answer came'));
    });
    req.once('response', (res) => {
      answer = res;
      res.once('close', forget);
      try {
        resolve(toResponse(res, options.method ?? 'GET'));
      } catch (err) {
        res.destroy();
        reject(err);
      }
    });
    req.end(body);
  });
}

function toResponse(res: http.IncomingMessage, method: string): Response {
  const status = res.statusCode ?? 0;
  const headers = new Headers();
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2)
    headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
  const noBody = method === 'HEAD' || status === 204 || status === 205 || status === 304;
  if (noBody) res.resume();
  // A status outside 200–599 makes the constructor throw: the request fails, as fetch's does.
  const response = new Response(noBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
    status,
    headers,
  });
  const coding = headers.get('content-encoding')?.trim().toLowerCase();
  if (!noBody && coding !== undefined && coding !== '' && coding !== 'identity') {
    encodedBodies.set(response, coding);
  }
  return response;
}
