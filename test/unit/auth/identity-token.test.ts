import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { HttpFunction, Request, Response } from '@google-cloud/functions-framework';
import { isLocalStack, requireIdentityToken } from '../../../functions/auth/identity-token.ts';

/** The slice of an Express request/response the wrapper touches, recording what was answered. */
function call(handler: HttpFunction, headers: Record<string, string>) {
  const answer = {
    status: 0,
    headers: {} as Record<string, string>,
    body: undefined as unknown,
    reached: false,
  };
  const res = {
    status(code: number) {
      answer.status = code;
      return res;
    },
    set(field: string, value: string) {
      answer.headers[field] = value;
      return res;
    },
    json(body: unknown) {
      answer.body = body;
      return res;
    },
  };
  handler({ headers } as unknown as Request, res as unknown as Response);
  return answer;
}

describe('HTTP functions refuse calls without an identity token when deployed', () => {
  const inner: HttpFunction = (_req, res) => {
    res.status(200).json({ ran: true });
  };

  test('no token: 401 and the handler never runs', () => {
    const answer = call(requireIdentityToken(false, inner), {});
    assert.equal(answer.status, 401);
    assert.equal(answer.headers['WWW-Authenticate'], 'Bearer');
    assert.deepEqual(Object.keys(answer.body as object), ['error']);
  });

  test('a malformed Authorization header is no token', () => {
    for (const value of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer    ', 'token abc']) {
      assert.equal(call(requireIdentityToken(false, inner), { authorization: value }).status, 401, value);
    }
  });

  test('a bearer token in either header Cloud Run checks reaches the handler', () => {
    assert.deepEqual(call(requireIdentityToken(false, inner), { authorization: 'Bearer eyJ.x.y' }).body, {
      ran: true,
    });
    assert.deepEqual(
      call(requireIdentityToken(false, inner), { 'x-serverless-authorization': 'Bearer eyJ.x.y' }).body,
      {
        ran: true,
      },
    );
  });

  test('on the local stack the check is off, and only SIGSENTRY_LOCAL=1 or true turns it off', () => {
    assert.deepEqual(call(requireIdentityToken(true, inner), {}).body, { ran: true });
    assert.equal(isLocalStack({ SIGSENTRY_LOCAL: '1' }), true);
    for (const value of [undefined, '0', 'yes', 'TRUE ', ''])
      assert.equal(isLocalStack({ SIGSENTRY_LOCAL: value }), false);
  });
});
