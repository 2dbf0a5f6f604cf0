import { DependencyError, SigsentryError, urlForLog } from '../../errors.ts';
import { readBodyPrefix } from './body.ts';
import { attachDeadline, Deadline } from './deadline.ts';
import { ERROR_BODY_MAX_BYTES } from './limits.ts';

export interface HttpOptions {
  timeoutMs: number;
  retries: number;
  fetch: typeof fetch;
}

/** Answer of the log that is neither success nor a retryable failure (4xx). */
export class LogHttpError extends Error {
  readonly status: number;
  readonly location: string | undefined;
  readonly body: string;
  /** Response headers (rekor-tiles names a duplicate's index in `x-log-index`). */
  readonly headers: Headers;
  constructor(status: number, body: string, location: string | undefined, headers: Headers = new Headers()) {
    super(`log answered ${status}: ${body.slice(0, 200)}`);
    this.status = status;
    this.body = body;
    this.location = location;
    this.headers = headers;
  }
}

/** Longest wait a Retry-After header may ask for before the next attempt. */
const MAX_RETRY_AFTER_MS = 10_000;

/**
 * One request with a timeout, retried with backoff on network errors, 5xx and 429 (the public
 * log rate-limits; a Retry-After of a few seconds is honoured). Other 4xx come back as
 * LogHttpError (the caller decides: 409 is an answer, not a failure); exhausted retries become a
 * retryable DependencyError.
 */
export async function request(url: string, init: RequestInit, opts: HttpOptions): Promise<Response> {
  let last: unknown;
  let wait = 0;
  for (let attempt = 0; attempt <= opts.retries; attempt++) {
    if (attempt > 0) {
      await new Promise((r) => setTimeout(r, Math.max(wait, Math.min(2000, 50 * 2 ** attempt))));
    }
    wait = 0;
    // Covers the body too; body.ts pauses it while the read budget keeps the body waiting.
    const deadline = new Deadline(opts.timeoutMs);
    try {
      const res = await opts.fetch(url, { ...init, signal: deadline.signal });
      if (res.status >= 500 || res.status === 429) {
        last = new Error(`log answered ${res.status}`);
        wait = retryAfterMs(res.headers.get('retry-after'));
        await res.body?.cancel();
        deadline.clear();
        continue;
      }
      if (res.status >= 300 && res.status < 400) {
        await res.body?.cancel();
        throw redirectRefused(url, res);
      }
      if (res.status >= 400) {
        throw new LogHttpError(
          res.status,
          await readBodyPrefix(res, ERROR_BODY_MAX_BYTES),
          res.headers.get('location') ?? undefined,
          res.headers,
        );
      }
      attachDeadline(res, deadline);
      return res;
    } catch (err) {
      deadline.clear();
      if (err instanceof LogHttpError || err instanceof SigsentryError) throw err; // answers, not failures
      last = err;
    }
  }
  const where = urlForLog(url);
  throw new DependencyError(
    'rekor',
    `${init.method ?? 'GET'} ${where} failed: ${String(last)}`,
    { url: where },
    last,
  );
}

/**
 * A 3xx from the log. logFetch follows none (fetch follows them itself): the log's URL is
 * configured where it is, so no retry mends it. URLs are named without their query, which for a
 * bucket's redirect can be a signature.
 */
function redirectRefused(url: string, res: Response): SigsentryError {
  const location = res.headers.get('location');
  const to = location === null ? undefined : urlForLog(new URL(location, url).href);
  return new SigsentryError(
    'LOG_REDIRECTED',
    `the log answered ${res.status} to ${urlForLog(url)}${to === undefined ? '' : `, a redirect to ${to}`}, which is not followed: configure the log's URL where it points`,
    {
      retryable: false,
      details: {
        dependency: 'rekor',
        url: urlForLog(url),
        status: res.status,
        ...(to === undefined ? {} : { location: to }),
      },
    },
  );
}

/** Retry-After in seconds (RFC 9110 §10.2.3; an HTTP date is ignored), capped. */
function retryAfterMs(value: string | null): number {
  if (value === null || !/^\d{1,6}$/.test(value.trim())) return 0;
  return Math.min(MAX_RETRY_AFTER_MS, Number(value.trim()) * 1000);
}
