/**
 * Defense in depth for the HTTP functions. Deployed, they are not publicly invocable: Cloud Run IAM
 * verifies the caller's Google identity token (Cloud Scheduler's OIDC token, a viewer's token)
 * before a request reaches the code. Should a service ever be made public by mistake, the handlers
 * still refuse (401) a request that carries no token at all. The token is not verified a second
 * time: IAM did. On the local stack (SIGSENTRY_LOCAL=1) there is no IAM in front and no check.
 */
import type { HttpFunction } from '@google-cloud/functions-framework';

export interface RequestWithHeaders {
  headers: Record<string, string | string[] | undefined>;
}

const BEARER = /^Bearer\s+\S+/i;

function header(req: RequestWithHeaders, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** True when the request presents a bearer token in either header Cloud Run checks. */
export function presentsIdentityToken(req: RequestWithHeaders): boolean {
  return [header(req, 'authorization'), header(req, 'x-serverless-authorization')].some(
    (v) => v !== undefined && BEARER.test(v),
  );
}

/** Only SIGSENTRY_LOCAL=1 (or true) turns the check off; anything else keeps it on. */
export function isLocalStack(env: NodeJS.ProcessEnv): boolean {
  return env.SIGSENTRY_LOCAL === '1' || env.SIGSENTRY_LOCAL === 'true';
}

/** Wraps an HTTP function so that, unless local, a request without a token is answered 401. */
export function requireIdentityToken(local: boolean, handler: HttpFunction): HttpFunction {
  return (req, res) => {
    if (!local && !presentsIdentityToken(req)) {
      res.status(401).set('WWW-Authenticate', 'Bearer').json({
        error: 'a Google identity token is required (Authorization: Bearer)',
      });
      return;
    }
    return handler(req, res);
  };
}
