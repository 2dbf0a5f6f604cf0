/**
 * A resumed signing attaches the bundle read back from Firestore, whose maps need not keep their
 * key order; the attached bytes, and so the referrer's digest, must not depend on it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { bundleFromJSON } from '@sigstore/bundle';
import { bundleBytes } from '../../../functions/attach/bundle-bytes.ts';

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../verify/fixtures/${name}`, import.meta.url), 'utf8')) as unknown;

/** The same JSON value with every object's keys in reverse order. */
function reordered(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reordered);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .reverse()
      .map(([k, v]) => [k, reordered(v)]),
  );
}

test('a bundle attaches as the same bytes whatever its key order, and they are the bundle', () => {
  for (const name of ['sigstore-js-bundleV03-dsse.sigstore', 'sigstore-java-bundle.dsse.sigstore']) {
    const bundle = fixture(name);
    const shuffled = reordered(bundle);
    assert.notEqual(JSON.stringify(shuffled), JSON.stringify(bundle), 'the reordering changed the text');
    assert.deepEqual(bundleBytes(shuffled), bundleBytes(bundle), name);
    assert.deepEqual(bundleFromJSON(JSON.parse(bundleBytes(bundle).toString())), bundleFromJSON(bundle));
  }
});
