/**
 * parseManifestBytes reads through go-json's reader (parseGoJson): one scan of the text refuses a key
 * twice (AmbiguousManifestError) and, for a rewrite, finds what re-serialising would change
 * (UnkeepableManifestError). These pin how the two refusals and "not JSON" relate, and that a read for
 * a rewrite keeps the document's key order, without a registry (ambiguous-manifest.test.ts has one).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sha256Digest } from '../../../functions/registry/digest.ts';
import { RegistryIntegrityError } from '../../../functions/registry/errors.ts';
import {
  AmbiguousManifestError,
  imageIndexSchema,
  imageManifestSchema,
  parseManifestBytes,
  UnkeepableManifestError,
} from '../../../functions/registry/manifest.ts';

const D = (c: string) => `sha256:${c.repeat(64)}`;
/** A descriptor as cosign writes one: `size` before `digest`. */
const descriptor = (c: string) => `{"mediaType":"application/x","size":2,"digest":"${D(c)}"}`;
const manifest = (rest = '') =>
  `{"schemaVersion":2,"config":${descriptor('c')},"layers":[${descriptor('a')}]${rest}}`;
const details = { reference: 'h/team/app:sha256-x.sig' };

function parse(text: string, rewrite: boolean) {
  return parseManifestBytes(imageManifestSchema, Buffer.from(text), details, { rewrite });
}

describe('parseManifestBytes refuses as one reader', () => {
  test('not JSON is a RegistryIntegrityError with JSON.parse’s reason, read or rewritten', () => {
    for (const rewrite of [false, true]) {
      assert.throws(
        () => parse('{"schemaVersion":2,"n":1e400,', rewrite),
        (err: unknown) =>
          err instanceof RegistryIntegrityError &&
          !(err instanceof AmbiguousManifestError) &&
          err.message === 'manifest is not JSON' &&
          err.code === 'REGISTRY_INTEGRITY' &&
          err.details['reference'] === details.reference &&
          String(err.details['reason']).startsWith('SyntaxError'),
      );
    }
  });

  test('a key twice is refused before anything a rewrite would change', () => {
    const text = manifest(',"n":18446744073709551615,"__proto__":1,"x":{"k":1,"K":2}');
    for (const rewrite of [false, true]) {
      assert.throws(
        () => parse(text, rewrite),
        (err: unknown) =>
          err instanceof AmbiguousManifestError &&
          err.message.includes(sha256Digest(Buffer.from(text))) &&
          err.message.includes('spells the field "k" more than one way ("k", "K") at $.x') &&
          err.details['path'] === '$.x',
      );
    }
  });

  test('a rewrite names the first unkept tokens in document order, at most ten; a read accepts them', () => {
    const numbers = Array.from({ length: 12 }, (_, i) => `1${'0'.repeat(22 + i)}`);
    // Numbers and `__proto__` inside strings are text, not tokens: never reported.
    const text = manifest(
      `,"s":"__proto__\\":1,1.0" ,"\\u005f_proto__" : {"v":1.0},"n":[${numbers.join(',')}]`,
    );
    assert.throws(
      () => parse(text, true),
      (err: unknown) => {
        assert.ok(err instanceof UnkeepableManifestError, String(err));
        const unkept = err.details['unkept'] as string[];
        assert.equal(unkept.length, 10);
        assert.deepEqual(unkept.slice(0, 3), [
          'a key "__proto__"',
          'the number 1.0 (written back as 1)',
          `the number ${numbers[0]} (written back as 1e+22)`,
        ]);
        assert.match(
          err.message,
          /has a key "__proto__", the number 1\.0 \(written back as 1\), .* \(and more\): /,
        );
        assert.equal(err.details['manifestDigest'], sha256Digest(Buffer.from(text)));
        return true;
      },
    );
    assert.equal(parse(text, false).layers.length, 1);
  });
});

describe('parseManifestBytes keeps key order where it is written back', () => {
  test('a read for a rewrite has the document’s key order, a field spelled another way in its place', () => {
    const text = `{"schemaVersion":2,"zz":1,"Layers":[${descriptor('a')}],"config":${descriptor('c')}}`;
    const rewritten = parse(text, true);
    assert.equal(
      JSON.stringify(rewritten),
      `{"schemaVersion":2,"zz":1,"layers":[${descriptor('a')}],"config":${descriptor('c')}}`,
    );
    // Read only, the same fields and values (its key order is nobody's to write).
    assert.deepEqual(parse(text, false), rewritten);
  });

  test('an index entry of another writer is written back as it was', () => {
    const entry = `{"size":2,"io.example/x":{"b":1,"a":2},"digest":"${D('e')}","mediaType":"application/x"}`;
    const text = `{"manifests":[${entry}],"schemaVersion":2}`;
    const index = parseManifestBytes(imageIndexSchema, Buffer.from(text), {}, { rewrite: true });
    assert.equal(JSON.stringify(index), text);
  });
});
