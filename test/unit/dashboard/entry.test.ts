/**
 * The handler behind the real Functions Framework server (Express), on a free loopback port.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { isLocalStack } from '../../../functions/dashboard/config.ts';
import { createDashboardEntry } from '../../../functions/dashboard/entry.ts';
import { CONTENT_SECURITY_POLICY } from '../../../functions/dashboard/render.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { fullView } from './fixtures.ts';

const memory = createMemoryLogger();
let failing = false;
const loads: Array<{ repository?: string }> = [];
const entry = (local: boolean) =>
  createDashboardEntry({
    logger: memory,
    local,
    load: async (options) => {
      loads.push(options);
      if (failing) throw new DependencyError('firestore', 'reading tags failed: <unavailable>');
      return { ...fullView(), ...options };
    },
  });
ff.http('dashboardProduction', entry(false));
ff.http('dashboardLocal', entry(true));

async function serve(target: string): Promise<{ server: Server; url: string }> {
  const server = getTestServer(target);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('dashboard entry: authentication, formats, failures', () => {
  let production: { server: Server; url: string };
  let local: { server: Server; url: string };
  before(async () => {
    production = await serve('dashboardProduction');
    local = await serve('dashboardLocal');
  });
  after(async () => {
    for (const s of [production, local]) await new Promise((r) => s.server.close(r));
  });

  it('in production, answers 401 to a request with no identity token', async () => {
    for (const headers of [{}, { authorization: 'Basic dXNlcjpwYXNz' }, { authorization: 'Bearer ' }]) {
      const res = await fetch(production.url, { headers });
      assert.equal(res.status, 401, JSON.stringify(headers));
      assert.equal(res.headers.get('www-authenticate'), 'Bearer');
      const body = await res.text();
      assert.match(body, /Authentication required/);
      assert.doesNotMatch(body, /rogue-signature/, 'no state in a refusal');
    }
    const json = await fetch(`${production.url}/?format=json`);
    assert.equal(json.status, 401);
    assert.deepEqual(Object.keys((await json.json()) as object), ['error']);
  });

  it('in production, serves the page to a request carrying a token in either header Cloud Run checks', async () => {
    for (const headers of [
      { authorization: 'Bearer eyJhbGciOi.token' },
      { 'x-serverless-authorization': 'Bearer eyJhbGciOi.token' },
    ]) {
      const res = await fetch(production.url, { headers });
      assert.equal(res.status, 200, JSON.stringify(headers));
      assert.match(res.headers.get('content-type')!, /^text\/html; charset=utf-8/);
      assert.equal(res.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.match(await res.text(), /Open alerts \(1\)/);
    }
  });

  it('locally (SIGSENTRY_LOCAL=1), serves without a token; only "1" or "true" turn the check off', async () => {
    const res = await fetch(local.url);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /sigsentry status/);
    assert.equal(isLocalStack({ SIGSENTRY_LOCAL: '1' }), true);
    assert.equal(isLocalStack({ SIGSENTRY_LOCAL: 'true' }), true);
    for (const value of [undefined, '', '0', 'yes', 'false']) {
      assert.equal(isLocalStack({ SIGSENTRY_LOCAL: value }), false, String(value));
    }
  });

  it('?format=json returns the view model', async () => {
    const res = await fetch(`${local.url}/?format=json`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^application\/json/);
    assert.deepEqual(await res.json(), JSON.parse(JSON.stringify(fullView())));
  });

  it('?repository= narrows the page to one repository; two of them is a bad request', async () => {
    loads.length = 0;
    const repo = '127.0.0.1:5000/team/app';
    const res = await fetch(`${local.url}/?format=json&repository=${encodeURIComponent(repo)}`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { repository: string }).repository, repo);
    assert.deepEqual(loads, [{ repository: repo }]);
    const two = await fetch(`${local.url}/?repository=a&repository=b`);
    assert.equal(two.status, 400);
    assert.equal(loads.length, 1, 'nothing read for a bad request');
  });

  it('refuses other methods with 405', async () => {
    const res = await fetch(local.url, { method: 'POST', body: '{}' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
  });

  it('answers 503 (escaped message, logged) when the state cannot be read, never an empty page', async () => {
    failing = true;
    try {
      const res = await fetch(local.url);
      assert.equal(res.status, 503);
      const body = await res.text();
      assert.match(body, /reading tags failed: &lt;unavailable&gt;/);
      assert.doesNotMatch(body, /No open alerts/);
      const json = await fetch(`${local.url}/?format=json`);
      assert.equal(json.status, 503);
      assert.match(((await json.json()) as { error: string }).error, /reading tags failed/);
    } finally {
      failing = false;
    }
    assert.ok(
      memory.entries.some(
        (e) => e.severity === 'ERROR' && /could not read the state/.test(String(e.message)),
      ),
    );
  });
});
