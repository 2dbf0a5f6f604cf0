/**
 * The registry transport: fetch with the guards a signing service needs. Only allowlisted hosts are
 * contacted, redirects are followed by hand so none can lead outside the allowlist (or downgrade to http
 * off loopback), credentials never leave the registry's own origin, every response has a size cap, and
 * every request a deadline.
 */
import { DependencyError, PolicyViolationError } from '../errors.ts';
import { RegistryIntegrityError } from './errors.ts';

export interface RegistryHttpOptions {
  /** Registry hosts (`hostname[:port]`, exact match) sigsentry may talk to. */
  readonly allowedHosts: readonly string[];
  /** Further hosts allowed only as redirect targets, e.g. the storage a registry redirects blob reads to. */
  readonly redirectHosts?: readonly string[];
  /** Deadline per request, including reading the body. Default 30 s. */
  readonly timeoutMs?: number;
  readonly maxRedirects?: number;
  /** Authorization header value for a registry host (never sent to redirect targets). */
  readonly authorization?: (host: string) => Promise<string | undefined>;
  readonly fetch?: typeof fetch;
  readonly userAgent?: string;
}

export interface HttpRequest {
  readonly method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
  readonly url: URL;
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array;
  /** Cap on the response body; a larger body is refused, not truncated. */
  readonly maxBytes: number;
  readonly signal?: AbortSignal;
  /** What the request concerns (reference, digest), copied into every error it raises. */
  readonly details: Record<string, unknown>;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Uint8Array;
  /** The URL that answered, after redirects: the base for relative Location and Link values. */
  readonly url: URL;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_REDIRECTS = 5;

export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** https everywhere except loopback, where the local docker-registry speaks plain http. */
export function registryBaseUrl(host: string): URL {
  const hostname = new URL(`http://${host}`).hostname;
  return new URL(`${isLoopbackHost(hostname) ? 'http' : 'https'}://${host}`);
}

export class RegistryHttp {
  readonly #allowed: Set<string>;
  readonly #redirectTargets: Set<string>;
  readonly #timeoutMs: number;
  readonly #maxRedirects: number;
  readonly #authorization: RegistryHttpOptions['authorization'];
  readonly #fetch: typeof fetch;
  readonly #userAgent: string;

  constructor(options: RegistryHttpOptions) {
    this.#allowed = new Set(options.allowedHosts.map((h) => h.toLowerCase()));
    this.#redirectTargets = new Set([
      ...this.#allowed,
      ...(options.redirectHosts ?? []).map((h) => h.toLowerCase()),
    ]);
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
    this.#authorization = options.authorization;
    this.#fetch = options.fetch ?? fetch;
    this.#userAgent = options.userAgent ?? 'sigsentry';
  }

  /** Refuse a registry host that is not allowlisted, before any byte is sent to it. */
  assertAllowedHost(host: string, details: Record<string, unknown>): void {
    if (!this.#allowed.has(host.toLowerCase())) {
      throw new PolicyViolationError(`registry host ${host} is not in the allowlist`, { ...details, host });
    }
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = req.signal === undefined ? timeout : AbortSignal.any([req.signal, timeout]);
    const origin = req.url.origin;
    this.#checkTarget(req.url, this.#allowed, req.details);

    let url = req.url;
    let method = req.method;
    let body = req.body;
    let leftOrigin = false;
    for (let hop = 0; ; hop++) {
      leftOrigin ||= url.origin !== origin;
      const headers: Record<string, string> = { 'user-agent': this.#userAgent, ...req.headers };
      // Credentials go to the registry's own origin only: a redirect to storage carries its own signed URL.
      if (!leftOrigin && this.#authorization !== undefined) {
        const value = await this.#authorization(url.host);
        if (value !== undefined) headers['authorization'] = value;
      }
      if (body === undefined) {
        delete headers['content-type'];
      }
      let res: Response;
      try {
        res = await this.#fetch(url, {
          method,
          headers,
          ...(body === undefined ? {} : { body }),
          redirect: 'manual',
          signal,
        });
      } catch (cause) {
        throw this.#networkError(cause, method, url, req.details, signal);
      }
      if (REDIRECTS.has(res.status)) {
        await res.body?.cancel();
        const location = res.headers.get('location');
        if (location === null) {
          throw new RegistryIntegrityError(`redirect ${res.status} without Location`, {
            ...req.details,
            url: `${url}`,
          });
        }
        if (hop >= this.#maxRedirects) {
          throw new RegistryIntegrityError('too many redirects', { ...req.details, url: `${url}` });
        }
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          throw new RegistryIntegrityError('redirect to a Location that is not a URL', {
            ...req.details,
            url: `${url}`,
            location: location.slice(0, 200),
          });
        }
        this.#checkTarget(next, this.#redirectTargets, { ...req.details, redirectedFrom: `${url}` });
        if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
          method = method === 'HEAD' ? 'HEAD' : 'GET';
          body = undefined;
        }
        url = next;
        continue;
      }
      const bytes = method === 'HEAD' ? new Uint8Array(0) : await this.#readCapped(res, req, url, signal);
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

  async #readCapped(res: Response, req: HttpRequest, url: URL, signal: AbortSignal): Promise<Uint8Array> {
    const tooLarge = () =>
      new RegistryIntegrityError(`response larger than ${req.maxBytes} bytes`, {
        ...req.details,
        url: `${url}`,
        maxBytes: req.maxBytes,
      });
    const declared = Number(res.headers.get('content-length') ?? Number.NaN);
    if (Number.isFinite(declared) && declared > req.maxBytes) {
      await res.body?.cancel();
      throw tooLarge();
    }
    if (res.body === null) return new Uint8Array(0);
    const chunks: Uint8Array[] = [];
    let total = 0;
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > req.maxBytes) {
          await reader.cancel();
          throw tooLarge();
        }
        chunks.push(value);
      }
    } catch (cause) {
      if (cause instanceof RegistryIntegrityError) throw cause;
      throw this.#networkError(cause, req.method, url, req.details, signal);
    }
    return Buffer.concat(chunks);
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
    return new DependencyError(
      'registry',
      `${method} ${url.host}${url.pathname} ${what}`,
      { ...details },
      cause,
    );
  }
}
