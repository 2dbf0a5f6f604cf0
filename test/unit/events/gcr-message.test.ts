import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidInputError } from '../../../functions/errors.ts';
import { parseGcrMessage } from '../../../functions/events/gcr-message.ts';

const D = `sha256:${'0123456789abcdef'.repeat(4)}`;
const parse = (v: unknown) =>
  parseGcrMessage(Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)), 'm1');

describe('gcr messages', () => {
  test('the three shapes Artifact Registry sends are all valid', () => {
    const host = 'us-docker.pkg.dev';
    assert.deepEqual(
      parse({ action: 'INSERT', digest: `${host}/proj/repo/app@${D}`, tag: `${host}/proj/repo/app:v1` }),
      {
        action: 'INSERT',
        host,
        repository: 'proj/repo/app',
        digest: D,
        tag: 'v1',
        raw: { action: 'INSERT', digest: `${host}/proj/repo/app@${D}`, tag: `${host}/proj/repo/app:v1` },
      },
    );
    const digestOnly = parse({ action: 'INSERT', digest: `${host}/proj/repo/app@${D}` });
    assert.equal(digestOnly.digest, D);
    assert.equal(digestOnly.tag, undefined);
    const tagOnly = parse({ action: 'DELETE', tag: `127.0.0.1:5000/team/app:latest` });
    assert.deepEqual(
      [tagOnly.host, tagOnly.repository, tagOnly.tag, tagOnly.digest],
      ['127.0.0.1:5000', 'team/app', 'latest', undefined],
    );
  });

  test('a field beyond action, digest and tag is dropped unread; the three are parsed as without it', () => {
    const digest = `us-docker.pkg.dev/proj/repo/app@${D}`;
    const tag = 'us-docker.pkg.dev/proj/repo/app:v1';
    const plain = parse({ action: 'INSERT', digest, tag });
    // Fields Artifact Registry might add one day, a case variant of a known one, and JSON's own oddities.
    for (const extra of [
      { project: 'x' },
      { Digest: `h/other@${D}` },
      { location: { region: 'us' }, repositoryFormat: 'DOCKER', size: 1e9 },
      JSON.parse('{"__proto__":{"digest":"h/evil@x"},"constructor":null}'),
    ]) {
      const parsed = parse({ action: 'INSERT', digest, tag, ...extra });
      assert.deepEqual(parsed, plain, JSON.stringify(extra));
      assert.deepEqual(Object.keys(parsed.raw).sort(), ['action', 'digest', 'tag'], 'not passed on');
    }
    // The known fields stay strict with a stranger beside them.
    assert.throws(() => parse({ action: 'INSERT', digest: 'h/r@sha256:abc', extra: 1 }), InvalidInputError);
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['not JSON', '{nope', /not JSON/],
    ['an array', ['INSERT'], /wrong shape/],
    ['unknown action', { action: 'UPDATE', digest: `h/r@${D}` }, /action/],
    ['neither digest nor tag', { action: 'INSERT' }, /neither digest nor tag/],
    ['short digest', { action: 'INSERT', digest: 'h/r@sha256:abc' }, /sha256:<64/],
    ['sha512 digest', { action: 'INSERT', digest: `h/r@sha512:${'a'.repeat(128)}` }, /sha256:<64/],
    ['upper-case hex', { action: 'INSERT', digest: `h/r@sha256:${'A'.repeat(64)}` }, /sha256:<64/],
    ['digest without host', { action: 'INSERT', digest: D }, /HOST\/REPOSITORY/],
    ['tag with a digest in it', { action: 'INSERT', tag: `h/r@${D}` }, /HOST\/REPOSITORY:TAG/],
    [
      'digest and tag of different repositories',
      { action: 'INSERT', digest: `h/a@${D}`, tag: 'h/b:v1' },
      /different/,
    ],
    // The repository comparison runs after a failed pattern too: the pattern's error, not a TypeError.
    [
      'a malformed digest beside a tag',
      { action: 'INSERT', digest: 'h/x@sha256:BAD', tag: 'h/x:v1' },
      /digest must be HOST\/REPOSITORY@sha256:<64/,
    ],
    [
      'a malformed tag beside a digest',
      { action: 'INSERT', digest: `h/x@${D}`, tag: 'h/x:no spaces' },
      /tag must be HOST\/REPOSITORY:TAG/,
    ],
    ['digest not a string', { action: 'INSERT', digest: 42 }, /wrong shape/],
    // zod's length check runs on a non-string with a `length`, and comparing this one throws a TypeError.
    [
      'digest an object whose length cannot be compared',
      { action: 'INSERT', digest: { length: [{ toString: null }] } },
      /wrong shape/,
    ],
    [
      'a megabyte-long repository path',
      { action: 'INSERT', tag: `h/${'a/'.repeat(500_000)}r:v1` },
      /too long/,
    ],
  ];
  for (const [name, input, message] of bad) {
    test(`rejects ${name} with a non-retryable InvalidInputError`, () => {
      assert.throws(
        () => parse(input),
        (err: unknown) => {
          assert.ok(err instanceof InvalidInputError);
          assert.equal(err.retryable, false);
          assert.equal(err.details.messageId, 'm1');
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }
});
