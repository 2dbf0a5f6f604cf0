/**
 * The `dashboard` HTTP handler: GET renders the status page, `?format=json` returns its view model,
 * `?repository=HOST/REPO` narrows coverage and recent signings to one repository.
 *
 * Authentication. In production the function is deployed without public access: Cloud Run IAM
 * requires a Google identity token of a principal holding run.invoker (infra grants it to
 * var.dashboard_viewers only) and verifies it before the request reaches this code; people open the
 * page through `gcloud run services proxy` or IAP, which add the token. As defense in depth, in case
 * the service is ever made public by mistake, this handler also refuses (401) any request that
 * carries no token at all: no `Authorization: Bearer …` and no `X-Serverless-Authorization` (the
 * header Cloud Run also accepts, and prefers when both are present). It does not verify the token a
 * second time; IAM did. The local stack sets SIGSENTRY_LOCAL=1, where there is no IAM in front, and
 * the check is off.
 */
import { presentsIdentityToken } from '../auth/identity-token.ts';
import type { Logger } from '../logging/logger.ts';
import { CONTENT_SECURITY_POLICY, renderDashboard, renderMessage } from './render.ts';
import type { DashboardView } from './view.ts';

export interface DashboardRequest {
  method?: string;
  query?: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

export interface DashboardResponse {
  status(code: number): DashboardResponse;
  set(field: string, value: string): DashboardResponse;
  send(body: string): unknown;
}

export { presentsIdentityToken };

const COMMON_HEADERS: Record<string, string> = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

export function createDashboardEntry(deps: {
  logger: Logger;
  /** The local stack: no identity check (see above). */
  local: boolean;
  load(options: { repository?: string }): Promise<DashboardView>;
}) {
  return async (req: DashboardRequest, res: DashboardResponse): Promise<void> => {
    const json = req.query?.format === 'json';
    const answer = (code: number, body: string, type: 'html' | 'json') => {
      res.status(code);
      for (const [k, v] of Object.entries(COMMON_HEADERS)) res.set(k, v);
      if (type === 'html') {
        res.set('Content-Type', 'text/html; charset=utf-8');
        res.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
      } else {
        res.set('Content-Type', 'application/json; charset=utf-8');
      }
      res.send(body);
    };
    const fail = (code: number, title: string, message: string) =>
      json
        ? answer(code, JSON.stringify({ error: message }), 'json')
        : answer(code, renderMessage(title, message), 'html');

    if (req.method !== undefined && req.method !== 'GET' && req.method !== 'HEAD') {
      res.set('Allow', 'GET, HEAD');
      fail(405, 'Method not allowed', 'The status page answers GET only.');
      return;
    }
    if (!deps.local && !presentsIdentityToken(req)) {
      res.set('WWW-Authenticate', 'Bearer');
      fail(401, 'Authentication required', 'Present a Google identity token (Authorization: Bearer).');
      return;
    }
    const repository = req.query?.repository;
    if (repository !== undefined && (typeof repository !== 'string' || repository.length > 512)) {
      fail(400, 'Bad request', 'repository must be one HOST/REPO.');
      return;
    }
    let view: DashboardView;
    try {
      view = await deps.load(repository ? { repository } : {});
    } catch (err) {
      deps.logger.error('the status page could not read the state', { error: err });
      fail(503, 'State unavailable', `The state could not be read: ${(err as Error).message}`);
      return;
    }
    if (json) answer(200, `${JSON.stringify(view, null, 2)}\n`, 'json');
    else answer(200, renderDashboard(view), 'html');
  };
}
