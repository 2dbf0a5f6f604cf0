/**
 * The registry transport: fetch with the guards a signing service needs. Only allowlisted hosts are
 * contacted, redirects are followed by hand so none can lead outside the allowlist (or downgrade to http
 * off loopback), credentials never leave the registry's own origin, every response has a size cap, and
 * every request a deadline. A registry that answers 401 with a Bearer challenge gets an anonymous token
 * from its realm (anonymous-tokens.ts), which must be an allowlisted or redirect host too.
 */
import http from 'node:http';
import https from 'node:https';
import { DependencyError, PolicyViolationError, urlForLog } from '../errors.ts';
import { AnonymousTokens, tokenKey } from './anonymous-tokens.ts';
import { bearerChallenge } from './bearer-challenge.ts';
import { RegistryIntegrityError } from './errors.ts';

export interface RegistryHttpOptions {
  /** Registry hosts (`hostname[:port]`, exact match) sigsentry may talk to. */
  readonly allowedHosts: readonly string[];
  /**
   * Further hosts allowed only as redirect targets and token realms, e.g. the storage a registry
   * redirects blob reads to, or Docker Hub's auth.docker.io.
   */
  readonly redirectHosts?: readonly string[];
  /** Deadline per request, including reading the body. Default 30 s. */
  readonly timeoutMs?: number;
  readonly maxRedirects?: number;
  /**
   * Authorization header value for a registry host (never sent to redirect targets). A host it gives
   * a value for is never sent an anonymous token instead.
   */
  readonly authorization?: (host: string) => Promise<string | undefined>;
  /**
   * A fetch to send requests with (tests). Default: node:http(s) over one shared keep-alive agent per
   * scheme; fetch (undici) closes the connection after every HEAD, and resolving tags is HEADs.
   */
  readonly fetch?: typeof fetch;
  readonly userAgent?: string;
}

export interface HttpRequest {
  readonly method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
  readonly url: URL;
  /**
   * The registry origin the request is made for, when its URL came from a registry's answer (a
   * pagination Link, an upload Location): credentials (configured or anonymous) go to this origin
   * only; a URL elsewhere (still an allowlisted host) is sent without them, as after a redirect off the
   * origin. Default: the URL's own origin. The client refuses such URLs before this (ForeignTargetError).
   */
  readonly origin?: string;
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array;
  /** Cap on the response body; a larger body is refused, not truncated. */
  readonly maxBytes: number;
  readonly signal?: AbortSignal;
  /** What the request concerns (reference, digest), copied into every error it raises. */
  readonly details: Record<string, unknown>;
}

/** The part of `Headers` the client reads: a value by case-insensitive name, repeated ones joined. */
export interface ResponseHeaders {
  get(name: string): string | null;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: ResponseHeaders;
  readonly body: Uint8Array;
  /** The URL that answered, after redirects: the base for relative Location and Link values. */
  readonly url: URL;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** A response whose body is not read yet. */
interface Exchange {
  readonly status: number;
  readonly headers: ResponseHeaders;
  /** The body, refused past `maxBytes` (never truncated); errors are network errors. */
  read(maxBytes: number, tooLarge: () => Error): Promise<Uint8Array>;
  /** Let the body go (a redirect, a HEAD). */
  discard(): Promise<void>;
}

/**
 * Keep-alive agents shared by every RegistryHttp: a pass makes tens of thousands of small requests to
 * one or two registries, and a TCP (or TLS) handshake per request costs more than the request. Idle
 * sockets are unref'd by the agent, so they never hold the process open.
 */
const AGENTS = {
  'http:': new http.Agent({ keepAlive: true, maxFreeSockets: 256 }),
  'https:': new https.Agent({ keepAlive: true, maxFreeSockets: 256 }),
};

class NodeHeaders implements ResponseHeaders {
  readonly #values = new Map<string, string>();

  constructor(raw: readonly string[]) {
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      const value = raw[i + 1]!.trim();
      const prior = this.#values.get(name);
      this.#values.set(name, prior === undefined ? value : `${prior}, ${value}`);
    }
  }

  get(name: string): string | null {
    return this.#values.get(name.toLowerCase()) ?? null;
  }
}

async function readStream(
  res: http.IncomingMessage,
  maxBytes: number,
  tooLarge: () => Error,
): Promise<Uint8Array> {
  const declared = Number(res.headers['content-length'] ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    res.destroy();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    total += chunk.byteLength;
    if (total > maxBytes) {
      res.destroy();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  if (!res.complete) throw new Error('connection closed before the response ended');
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}

function nodeExchange(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: Uint8Array | undefined,
  signal: AbortSignal,
): Promise<Exchange> {
  const send = (retry: boolean): Promise<Exchange> =>
    new Promise<Exchange>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const transport = url.protocol === 'https:' ? https : http;
      const req = transport.request(url, {
        method,
        headers: body === undefined ? headers : { ...headers, 'content-length': String(body.byteLength) },
        // The retry takes a connection of its own: another idle one may have been dropped too.
        agent: retry ? AGENTS[url.protocol === 'https:' ? 'https:' : 'http:'] : false,
      });
      const onAbort = () => req.destroy(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      const done = () => signal.removeEventListener('abort', onAbort);
      req.once('error', (err: NodeJS.ErrnoException) => {
        // A kept-alive socket the server closed while it sat idle: send an idempotent request again.
        if (
          retry &&
          req.reusedSocket &&
          !signal.aborted &&
          (method === 'GET' || method === 'HEAD') &&
          (err.code === 'ECONNRESET' || err.code === 'EPIPE')
        ) {
          done();
          resolve(send(false));
          return;
        }
        done();
        reject(err);
      });
      req.once('response', (res) => {
        res.once('end', done);
        res.once('close', done);
        resolve({
          status: res.statusCode ?? 0,
          headers: new NodeHeaders(res.rawHeaders),
          read: (maxBytes, tooLarge) => readStream(res, maxBytes, tooLarge),
          // Drained to its end, so the connection is back in the pool for the next request.
          discard: () =>
            new Promise<void>((settle) => {
              res.once('end', settle);
              res.once('close', settle);
              res.resume();
            }),
        });
      });
      req.end(body);
    });
  return send(true);
}

async function fetchExchange(
  fetcher: typeof fetch,
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: Uint8Array | undefined,
  signal: AbortSignal,
): Promise<Exchange> {
  const res = await fetcher(url, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
    redirect: 'manual',
    signal,
  });
  return {
    status: res.status,
    headers: res.headers,
    async read(maxBytes, tooLarge) {
      const declared = Number(res.headers.get('content-length') ?? Number.NaN);
      if (Number.isFinite(declared) && declared > maxBytes) {
        await res.body?.cancel();
        throw tooLarge();
      }
      if (res.body === null) return new Uint8Array(0);
      const chunks: Uint8Array[] = [];
      let total = 0;
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > maxBytes) {
          await reader.cancel();
          throw tooLarge();
        }
        chunks.push(value);
      }
      return Buffer.concat(chunks);
    },
    async discard() {
      await res.body?.cancel();
    },
  };
}
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_REDIRECTS = 5;

export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** https everywhere except loopback, where the local docker-registry speaks plain http. */
export function registryBaseUrl(host: string): URL {
  return new URL(registryOrigin(host));
}

/** Origins by host: a pass resolves tens of thousands of URLs on a handful of (allowlisted) hosts. */
const origins = new Map<string, string>();
const MAX_CACHED_ORIGINS = 256;

/** registryBaseUrl's origin, as text (`https://host[:port]`). */
export function registryOrigin(host: string): string {
  let origin = origins.get(host);
  if (origin === undefined) {
    const url = new URL(`http://${host}`);
    origin = isLoopbackHost(url.hostname) ? url.origin : new URL(`https://${host}`).origin;
    if (origins.size >= MAX_CACHED_ORIGINS) origins.clear();
    origins.set(host, origin);
  }
  return origin;
}

export class RegistryHttp {
  readonly #allowed: Set<string>;
  readonly #redirectTargets: Set<string>;
  readonly #timeoutMs: number;
  readonly #maxRedirects: number;
  readonly #authorization: RegistryHttpOptions['authorization'];
  readonly #fetch: typeof fetch | undefined;
  readonly #userAgent: string;
  readonly #tokens: AnonymousTokens;

  constructor(options: RegistryHttpOptions) {
    this.#allowed = new Set(options.allowedHosts.map((h) => h.toLowerCase()));
    this.#redirectTargets = new Set([
      ...this.#allowed,
      ...(options.redirectHosts ?? []).map((h) => h.toLowerCase()),
    ]);
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
    this.#authorization = options.authorization;
    this.#fetch = options.fetch;
    this.#userAgent = options.userAgent ?? 'sigsentry';
    this.#tokens = new AnonymousTokens((url, maxBytes, details, signal) =>
      this.#request({ method: 'GET', url, maxBytes, details }, signal, this.#redirectTargets, false),
    );
  }

  /** Refuse a registry host that is not allowlisted, before any byte is sent to it. */
  assertAllowedHost(host: string, details: Record<string, unknown>): void {
    if (!this.#allowed.has(host.toLowerCase())) {
      throw new PolicyViolationError(`registry host ${host} is not in the allowlist`, { ...details, host });
    }
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    // One timer per request, cleared when it ends (AbortSignal.timeout's timer outlives the request
    // and builds a DOMException with a stack when it fires, tens of thousands of times a pass).
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new DOMException(`timed out after ${this.#timeoutMs} ms`, 'TimeoutError')),
      this.#timeoutMs,
    );
    timer.unref();
    const signal =
      req.signal === undefined ? deadline.signal : AbortSignal.any([req.signal, deadline.signal]);
    try {
      return await this.#request(req, signal, this.#allowed, true);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * `firstHops` is the set the request's own URL must be in (registries; redirect hosts for a token
   * realm); `credentials` is false for token realms, which get neither credentials nor challenges.
   */
  async #request(
    req: HttpRequest,
    signal: AbortSignal,
    firstHops: Set<string>,
    credentials: boolean,
  ): Promise<HttpResponse> {
    // Credentials belong to the registry the request is for, not to whatever host its URL names.
    const origin = req.origin ?? req.url.origin;
    this.#checkTarget(req.url, firstHops, req.details);

    let url = req.url;
    let method = req.method;
    let body = req.body;
    let leftOrigin = false;
    let redirects = 0;
    let challenged = false;
    let bearer: string | undefined;
    for (;;) {
      leftOrigin ||= url.origin !== origin;
      const headers: Record<string, string> = { 'user-agent': this.#userAgent, ...req.headers };
      // Credentials go to the registry's own origin only: a redirect to storage carries its own signed URL.
      let configured = false;
      if (credentials && !leftOrigin) {
        const value = this.#authorization === undefined ? undefined : await this.#authorization(url.host);
        if (value !== undefined) {
          headers['authorization'] = value;
          configured = true;
        } else {
          if (!this.#tokens.empty) bearer ??= this.#tokens.cached(tokenKey(url));
          if (bearer !== undefined) headers['authorization'] = `Bearer ${bearer}`;
        }
      }
      if (body === undefined) {
        delete headers['content-type'];
      }
      let res: Exchange;
      try {
        res =
          this.#fetch === undefined
            ? await nodeExchange(url, method, headers, body, signal)
            : await fetchExchange(this.#fetch, url, method, headers, body, signal);
      } catch (cause) {
        throw this.#networkError(cause, method, url, req.details, signal);
      }
      // A token-authenticated registry: ask its realm for an anonymous token, once per request.
      if (res.status === 401 && credentials && !leftOrigin && !configured && !challenged) {
        const challenge = bearerChallenge(res.headers.get('www-authenticate'));
        if (challenge !== undefined) {
          await res.discard();
          challenged = true;
          bearer = await this.#tokens.renew(tokenKey(url), challenge, bearer, req.details, signal);
          continue;
        }
      }
      if (REDIRECTS.has(res.status)) {
        await res.discard();
        const location = res.headers.get('location');
        if (location === null) {
          throw new RegistryIntegrityError(`redirect ${res.status} without Location`, {
            ...req.details,
            url: urlForLog(url),
          });
        }
        if (redirects++ >= this.#maxRedirects) {
          throw new RegistryIntegrityError('too many redirects', { ...req.details, url: urlForLog(url) });
        }
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          throw new RegistryIntegrityError('redirect to a Location that is not a URL', {
            ...req.details,
            url: urlForLog(url),
            location: urlForLog(location),
          });
        }
        this.#checkTarget(next, this.#redirectTargets, { ...req.details, redirectedFrom: urlForLog(url) });
        if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
          method = method === 'HEAD' ? 'HEAD' : 'GET';
          body = undefined;
        }
        url = next;
        continue;
      }
      let bytes: Uint8Array;
      if (method === 'HEAD') {
        await res.discard();
        bytes = new Uint8Array(0);
      } else {
        bytes = await this.#readCapped(res, req, url, signal);
      }
      return { status: res.status, headers: res.headers, body: bytes, url };
    }
  }

  #checkTarget(url: URL, allowed: Set<string>, details: Record<string, unknown>): void {
    if (url.username !== '' || url.password !== '') {
      throw new PolicyViolationError('registry URL carries credentials', { ...details, host: url.host });
    }
    if (!allowed.has(url.host.toLowerCase())) {
      throw new PolicyViolationError(`refusing to contact ${url.host}: not in the registry allowlist`, {
        ...details,
        host: url.host,
      });
    }
    const loopback = isLoopbackHost(url.hostname);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
      throw new PolicyViolationError(
        `refusing ${url.protocol} to ${url.host}: https is required off loopback`,
        {
          ...details,
          host: url.host,
        },
      );
    }
  }

  async #readCapped(res: Exchange, req: HttpRequest, url: URL, signal: AbortSignal): Promise<Uint8Array> {
    const tooLarge = () =>
      new RegistryIntegrityError(`response larger than ${req.maxBytes} bytes`, {
        ...req.details,
        url: urlForLog(url),
        maxBytes: req.maxBytes,
      });
    try {
      return await res.read(req.maxBytes, tooLarge);
    } catch (cause) {
      if (cause instanceof RegistryIntegrityError) throw cause;
      throw this.#networkError(cause, req.method, url, req.details, signal);
    }
  }

  #networkError(
    cause: unknown,
    method: string,
    url: URL,
    details: Record<string, unknown>,
    signal: AbortSignal,
  ): DependencyError {
    const timedOut =
      signal.aborted && signal.reason instanceof DOMException && signal.reason.name === 'TimeoutError';
    const what = timedOut ? `timed out after ${this.#timeoutMs} ms` : 'failed';
    return new DependencyError('registry', `${method} ${urlForLog(url)} ${what}`, { ...details }, cause);
  }
}
