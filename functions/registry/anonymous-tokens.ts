/**
 * Anonymous bearer tokens for registries that use token authentication (distribution's "Token
 * Authentication Specification"): on a 401 whose challenge names a realm, GET
 * `realm?service=…&scope=…` without credentials and send the token it answers as
 * `Authorization: Bearer …` to the registry. Docker Hub, ghcr.io and quay.io ask this even for public
 * pulls, which is how the watchlist reads third-party base images.
 *
 * Tokens are kept per registry origin and repository until shortly before they expire, so a pass
 * over many tags asks once, not once per request; concurrent requests share one token request.
 */
import { z } from 'zod';
import { DependencyError, urlForLog } from '../errors.ts';
import type { BearerChallenge } from './bearer-challenge.ts';
import { RegistryIntegrityError, RegistryRejectedError } from './errors.ts';
import type { HttpResponse } from './http.ts';

/** GET a token realm through the registry transport (allowlist, https, size cap, deadline). */
export type RealmGet = (
  url: URL,
  maxBytes: number,
  details: Record<string, unknown>,
  signal: AbortSignal,
) => Promise<HttpResponse>;

const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;
/** The specification's default when a token response has no expires_in. */
const DEFAULT_EXPIRES_IN_S = 60;
/** Stop using a token this long before it expires, for clock skew and the request's own time. */
const EXPIRY_MARGIN_S = 10;
const MAX_CACHED = 1024;

const tokenResponseSchema = z
  .object({
    token: z.string().optional(),
    access_token: z.string().optional(),
    expires_in: z.number().int().positive().optional(),
  })
  .refine((r) => r.token !== undefined || r.access_token !== undefined, {
    message: 'neither token nor access_token',
  });
/** What may follow `Bearer ` in a header: visible ASCII, no spaces or line breaks. */
const HEADER_SAFE = /^[\x21-\x7e]{1,16384}$/;

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
  /** The challenge's scope it was asked for. */
  readonly scope: string | undefined;
}

/** `origin repository` for requests under /v2/<repository>/…, else the origin: what a token is kept under. */
export function tokenKey(url: URL): string {
  const match = /^\/v2\/(.+?)\/(?:manifests|blobs|tags|referrers)\//.exec(url.pathname);
  return match === null ? url.origin : `${url.origin} ${match[1]}`;
}

export class AnonymousTokens {
  readonly #get: RealmGet;
  readonly #now: () => number;
  readonly #cached = new Map<string, CachedToken>();
  readonly #pending = new Map<string, Promise<string>>();

  constructor(get: RealmGet, now: () => number = Date.now) {
    this.#get = get;
    this.#now = now;
  }

  /** Whether any token is kept: registries without token authentication never pay for a lookup. */
  get empty(): boolean {
    return this.#cached.size === 0;
  }

  /** A token still good for `key`, if one is kept. */
  cached(key: string): string | undefined {
    return this.#entry(key)?.token;
  }

  /**
   * A token for `key` other than `refused` (the one the challenged request carried, if any): one
   * another request kept meanwhile for the same scope, else a new one from the challenge's realm, one
   * request for concurrent callers.
   */
  async renew(
    key: string,
    challenge: BearerChallenge,
    refused: string | undefined,
    details: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<string> {
    const kept = this.#entry(key);
    if (kept !== undefined && kept.token !== refused && kept.scope === challenge.scope) return kept.token;
    const flight = `${key}\n${challenge.realm}\n${challenge.service ?? ''}\n${challenge.scope ?? ''}`;
    let pending = this.#pending.get(flight);
    if (pending === undefined) {
      pending = this.#request(key, challenge, details, signal).finally(() => this.#pending.delete(flight));
      this.#pending.set(flight, pending);
    }
    return await pending;
  }

  async #request(
    key: string,
    challenge: BearerChallenge,
    details: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<string> {
    let url: URL;
    try {
      url = new URL(challenge.realm);
    } catch {
      throw new RegistryIntegrityError('token challenge names a realm that is not a URL', {
        ...details,
        realm: urlForLog(challenge.realm),
      });
    }
    if (challenge.service !== undefined) url.searchParams.set('service', challenge.service);
    for (const scope of (challenge.scope ?? '').split(' ').filter(Boolean)) {
      url.searchParams.append('scope', scope);
    }
    const realmDetails = { ...details, tokenRealm: urlForLog(url) };
    const res = await this.#get(url, MAX_TOKEN_RESPONSE_BYTES, realmDetails, signal);
    if (res.status !== 200) {
      const info = { ...realmDetails, status: res.status };
      const what = `token realm ${url.host} answered HTTP ${res.status}`;
      if (res.status >= 500 || [401, 403, 408, 429].includes(res.status)) {
        throw new DependencyError('registry', what, info);
      }
      throw new RegistryRejectedError(what, info);
    }
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(res.body).toString('utf8'));
    } catch {
      throw new RegistryIntegrityError('token response is not JSON', realmDetails);
    }
    const parsed = tokenResponseSchema.safeParse(json);
    if (!parsed.success) {
      throw new RegistryIntegrityError(
        `token response does not have the expected shape: ${z.prettifyError(parsed.error)}`,
        realmDetails,
      );
    }
    // `token` is the specification's field; `access_token` its OAuth 2.0 alias.
    const token = parsed.data.token ?? parsed.data.access_token!;
    if (!HEADER_SAFE.test(token)) {
      throw new RegistryIntegrityError('token response holds a token that cannot be sent in a header', {
        ...realmDetails,
        length: token.length,
      });
    }
    const lifetimeS = (parsed.data.expires_in ?? DEFAULT_EXPIRES_IN_S) - EXPIRY_MARGIN_S;
    if (lifetimeS > 0) {
      this.#keep(key, { token, expiresAt: this.#now() + lifetimeS * 1000, scope: challenge.scope });
    }
    return token;
  }

  #entry(key: string): CachedToken | undefined {
    const entry = this.#cached.get(key);
    if (entry === undefined) return undefined;
    if (this.#now() < entry.expiresAt) return entry;
    this.#cached.delete(key);
    return undefined;
  }

  #keep(key: string, entry: CachedToken): void {
    this.#cached.delete(key);
    if (this.#cached.size >= MAX_CACHED) {
      const oldest = this.#cached.keys().next().value;
      if (oldest !== undefined) this.#cached.delete(oldest);
    }
    this.#cached.set(key, entry);
  }
}
