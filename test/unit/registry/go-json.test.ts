/**
 * A JSON text with a key twice in one object is read one way by JSON.parse (the last value, whole)
 * and another by Go's encoding/json (each value decoded into the one field: an array's elements and
 * an object's fields merged), so parseGoJson refuses it, exact or under Go's folding, at any depth.
 * So do the cosign payload and bundle annotation readers built on it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseRekorBundle } from '../../../functions/attach/rekor-bundle.ts';
import { parseSimpleSigningPayload } from '../../../functions/attach/simple-signing.ts';
import { InvalidInputError } from '../../../functions/errors.ts';
import {
  AmbiguousFieldError,
  assertNoDuplicateKeys,
  DuplicateKeyError,
  parseGoJson,
} from '../../../functions/registry/go-json.ts';

const D = (c: string) => `sha256:${c.repeat(64)}`;

/** The DuplicateKeyError `text` is refused with (its first spelling, where, exact or folded). */
function refusal(text: string): { field: string; path: string; exact: boolean } {
  JSON.parse(text); // every case is valid JSON: only the duplicate is wrong
  try {
    parseGoJson(text);
  } catch (err) {
    assert.ok(err instanceof DuplicateKeyError, String(err));
    assert.ok(err instanceof AmbiguousFieldError && err instanceof InvalidInputError);
    return { field: err.field, path: err.path, exact: err.exact };
  }
  assert.fail(`accepted ${text}`);
}

describe('parseGoJson refuses a key twice in one object', () => {
  test('exact duplicates, whatever the values (JSON.parse keeps only the last)', () => {
    assert.deepEqual(refusal('{"manifests":[{"platform":{}}],"manifests":[{}]}'), {
      field: 'manifests',
      path: '$',
      exact: true,
    });
    assert.deepEqual(refusal('{"a":1,"b":2,"a":1}'), { field: 'a', path: '$', exact: true });
    assert.deepEqual(refusal('{"":1,"":2}'), { field: '', path: '$', exact: true });
  });

  test('keys equal under Go folding: case, KELVIN SIGN, LONG S', () => {
    assert.deepEqual(refusal('{"manifests":[],"Manifests":[]}'), {
      field: 'manifests',
      path: '$',
      exact: false,
    });
    assert.equal(refusal('{"MANIFESTS":[],"manifeſts":[]}').field, 'MANIFESTS');
    assert.equal(refusal('{"Kind":1,"\u212Aind":2}').field, 'Kind');
  });

  test('keys written with escapes are compared decoded', () => {
    assert.deepEqual(refusal('{"manifests":[],"\\u006danifests":[]}'), {
      field: 'manifests',
      path: '$',
      exact: true,
    });
    assert.equal(refusal('{"a\\"b":1,"a\\u0022b":2}').field, 'a"b');
    assert.equal(refusal('{"\\\\":1,"\\u005c":2}').field, '\\');
    assert.equal(refusal('{"\\u212aind":1,"kind":2}').field, '\u212Aind');
    // A lone surrogate is U+FFFD to Go, as is the replacement character itself.
    assert.equal(refusal('{"\\ud800":1,"\\ufffd":2}').field, '\uFFFD');
  });

  test('in nested objects and inside arrays, named by where the object is', () => {
    assert.deepEqual(refusal('{"config":{"digest":"x","Digest":"y"}}'), {
      field: 'digest',
      path: '$.config',
      exact: false,
    });
    const index = '{"manifests":[{"digest":"a"},{"digest":"b","platform":{"os":"linux","os":"plan9"}}]}';
    assert.deepEqual(refusal(index), { field: 'os', path: '$.manifests[1].platform', exact: true });
    assert.equal(refusal('[1,[2,{"x":3}],{"y":1,"y":2}]').path, '$[2]');
    assert.equal(refusal('{"a b":[{"k":1,"K":2}]}').path, '$["a b"][0]');
  });

  test('in a map-valued field, an exact duplicate is still refused', () => {
    assert.deepEqual(refusal('{"annotations":{"a":"1","a":"2"}}'), {
      field: 'a',
      path: '$.annotations',
      exact: true,
    });
    assert.equal(refusal('{"optional":{"build":{"id":1,"id":2}}}').path, '$.optional.build');
  });

  test('strings holding quotes, brackets, commas or keys are skipped as strings', () => {
    assert.equal(refusal('{"a":"\\"}{,[\\"a\\":","b":"\\\\","a":1}').field, 'a');
    assert.equal(refusal('{"k":"\\\\\\\\","k":0}').field, 'k');
  });
});

describe('parseGoJson reads what Go reads the same way', () => {
  test('the same key in different objects, or as a value, is fine', () => {
    for (const text of [
      '[{"a":1},{"a":2},{"A":3}]',
      '{"a":{"a":{"a":1}},"b":{"a":2,"b":3}}',
      '{"a":"a","b":"a","c":["a","A"]}',
      '{"x":"\\"y\\":1,\\"y\\":2"}',
      '{"manifests":[{"digest":"a","platform":{"os":"linux"}},{"digest":"b","platform":{"os":"linux"}}]}',
      '{"é":1,"É":2}', // never folded to an ASCII field name, so Go merges no struct field
      // Maps (OCI annotations, cosign's optional claims): "a" and "A" are two keys to Go too.
      '{"annotations":{"org.opencontainers.image.title":"x","Org.Opencontainers.Image.Title":"y"}}',
      '{"critical":{},"optional":{"tag":"v1","Tag":"v2"}}',
      '{"critical":{},"optional":{"build":{"Id":"1","id":"2"}}}', // a map's values are maps too
      '{}',
      '[]',
      '"{\\"a\\":1,\\"a\\":2}"',
      '7',
    ]) {
      assert.deepEqual(parseGoJson(text), JSON.parse(text), text);
    }
  });

  test('not JSON is JSON.parse’s SyntaxError', () => {
    assert.throws(() => parseGoJson('{"a":1,"a":'), SyntaxError);
  });

  test('text that is not JSON ends the scan, never loops', () => {
    for (const text of ['{"a', '"\\', '}}]],,,', '{"a":1,"b'])
      assert.doesNotThrow(() => assertNoDuplicateKeys(text));
  });
});

describe('parseGoJson tells a listener the tokens it scans (what manifest rewrites check)', () => {
  /** Each key and number token `text` is scanned as, in document order. */
  function tokens(text: string): string[] {
    const seen: string[] = [];
    parseGoJson(text, {
      key: (key) => seen.push(`key ${key}`),
      number: (token) => seen.push(`number ${token}`),
    });
    return seen;
  }

  test('keys decoded as Go decodes them, numbers as spelled, strings’ content never', () => {
    assert.deepEqual(
      tokens('{"a" : -1.50E+2, "\\u005f_proto__":[0,1e400,{"b":"\\"c\\":12"}], "\\ud800":null}'),
      ['key a', 'number -1.50E+2', 'key __proto__', 'number 0', 'number 1e400', 'key b', 'key \uFFFD'],
    );
    assert.deepEqual(tokens('[18446744073709551615,"9",true,-0]'), [
      'number 18446744073709551615',
      'number -0',
    ]);
  });

  test('listening changes nothing read or refused; not JSON is refused before any token', () => {
    const seen: string[] = [];
    const listener = { key: (key: string) => seen.push(key), number: (token: string) => seen.push(token) };
    assert.deepEqual(parseGoJson('{"a":[1,{"a":2}]}', listener), { a: [1, { a: 2 }] });
    assert.throws(() => parseGoJson('{"n":1,"N":2}', listener), DuplicateKeyError);
    seen.length = 0;
    assert.throws(() => parseGoJson('{"a":1,"b":', listener), SyntaxError);
    assert.deepEqual(seen, []);
  });
});

describe('nesting 100,000 deep does not overflow the stack', () => {
  const N = 100_000;
  test('arrays and objects, with and without a duplicate at the bottom', () => {
    const arrays = (inner: string) => `${'['.repeat(N)}${inner}${']'.repeat(N)}`;
    const objects = (inner: string) => `${'{"a":'.repeat(N)}${inner}${'}'.repeat(N)}`;
    assert.doesNotThrow(() => parseGoJson(arrays('{"x":1}')));
    assert.doesNotThrow(() => parseGoJson(objects('{"a":1}')));
    const dup = refusal(arrays('{"x":1,"X":2}'));
    assert.equal(dup.path, `$${'[0]'.repeat(N)}`);
    assert.equal(refusal(objects('{"a":1,"a":2}')).path, `$${'.a'.repeat(N)}`);
    // The outermost object's keys are still known after 100,000 levels opened and closed inside it.
    assert.equal(refusal(`${objects('1').slice(0, -1)},"a":2}`).path, '$');
  });
});

describe('cosign payloads and bundle annotations with a key twice are refused', () => {
  const payload = (critical: string, rest = '') =>
    Buffer.from(`{"critical":${critical}${rest},"optional":null}`);
  const critical = (digest: string) =>
    `{"identity":{"docker-reference":"h/team/app"},"image":{"docker-manifest-digest":"${digest}"},"type":"cosign container image signature"}`;

  test('parseSimpleSigningPayload: a duplicate anywhere is an InvalidInputError naming the key', () => {
    assert.equal(parseSimpleSigningPayload(payload(critical(D('a')))).manifestDigest, D('a'));
    for (const [bytes, key] of [
      [payload(critical(D('a')), `,"critical":${critical(D('b'))}`), 'critical'],
      [
        payload(critical(D('a')).replace('"type"', `"image":{"docker-manifest-digest":"${D('b')}"},"type"`)),
        'image',
      ],
      [
        payload(critical(D('a')).replace(`"${D('a')}"`, `"${D('a')}","Docker-Manifest-Digest":"${D('b')}"`)),
        'docker-manifest-digest',
      ],
      [Buffer.from(`{"critical":${critical(D('a'))},"optional":{"a":1},"optional":{"b":2}}`), 'optional'],
    ] as const) {
      assert.throws(
        () => parseSimpleSigningPayload(bytes, D('a')),
        (err: unknown) =>
          err instanceof InvalidInputError && err.message.includes(`has the key ${JSON.stringify(key)}`),
        bytes.toString(),
      );
    }
  });

  test('parseRekorBundle: a duplicate anywhere is no bundle', () => {
    const body = Buffer.from('{}').toString('base64');
    const inner = `"body":"${body}","integratedTime":1,"logIndex":2,"logID":"${'a'.repeat(64)}"`;
    const good = `{"SignedEntryTimestamp":"AAAA","Payload":{${inner}}}`;
    assert.equal(parseRekorBundle(good)?.Payload.logIndex, 2);
    assert.equal(parseRekorBundle(good.replace('"logIndex":2', '"logIndex":2,"logIndex":3')), undefined);
    assert.equal(parseRekorBundle(good.replace('{"Sig', '{"SignedEntryTimestamp":"BBBB","Sig')), undefined);
    assert.equal(parseRekorBundle(good.replace('}}', `},"Payload":{${inner}}}`)), undefined);
  });
});
