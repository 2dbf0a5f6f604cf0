/**
 * fitJson (logging/bounded.ts) is what caps both a log line and an alert's evidence: strings
 * bounded first, then the fields that fit, in order, and a marker naming the rest with the size and
 * hash of the whole.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, test } from 'node:test';
import { fitJson, type JsonFit, jsonBytes, toJson } from '../../../functions/logging/bounded.ts';

const FIT: JsonFit = {
  maxBytes: 10_000,
  maxStringChars: 4096,
  marker: 'cut',
  markerRoom: 0,
  markerChars: 500,
  describeWhole: (bytes, sha256) => `was ${bytes} bytes (sha256:${sha256})`,
};
const sha256 = (text: string) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');
const withoutMarker = ({ cut: _cut, ...rest }: Record<string, unknown>) => rest;

describe('fitJson', () => {
  test('a value that fits once its strings are bounded keeps every field, bigints included', () => {
    const value = { a: 'x'.repeat(5000), n: 7n, list: [1, 2] };
    const fitted = fitJson(value, { ...FIT, maxBytes: 5000 });
    assert.deepEqual(Object.keys(fitted), ['a', 'n', 'list']);
    assert.equal((fitted['a'] as string).length, 4096);
    assert.match(fitted['a'] as string, /…\[truncated: 5000 bytes, sha256:[0-9a-f]{64}\]$/);
    assert.equal(fitted['n'], 7n);
    assert.equal(toJson({ n: 7n }), '{"n":"7"}');
  });

  test('keeps the fields that fit, in order, and names the others with the whole size and hash', () => {
    const value = { a: 'a'.repeat(4000), b: 'b'.repeat(4000), c: 'c'.repeat(4000), d: 1, u: undefined };
    const fitted = fitJson(value, FIT);
    assert.deepEqual(Object.keys(fitted), ['a', 'b', 'd', 'cut']);
    const whole = JSON.stringify(value);
    assert.equal(fitted['cut'], `was ${whole.length} bytes (sha256:${sha256(whole)}); cut: c`);
    assert.ok(jsonBytes(withoutMarker(fitted)) <= FIT.maxBytes);
  });

  test('pinned fields come first whatever their size; `first` fields are tried before the rest', () => {
    const value = { z: 'z'.repeat(4000), big: 'b'.repeat(4000), id: 'i', keep: 'k'.repeat(4000) };
    const fitted = fitJson(value, { ...FIT, maxBytes: 8200, pinned: ['id'], first: ['keep'] });
    assert.deepEqual(Object.keys(fitted), ['id', 'keep', 'z', 'cut']);
    assert.match(fitted['cut'] as string, /; cut: big$/);
  });

  test('markerRoom keeps room in the cap for the marker', () => {
    const value = { a: 'a'.repeat(4000), b: 'b'.repeat(4000), c: 'c'.repeat(1500) };
    assert.deepEqual(Object.keys(fitJson(value, FIT)), ['a', 'b', 'c']);
    const roomy = fitJson({ ...value, d: 'd'.repeat(4000) }, { ...FIT, markerRoom: 1024 });
    assert.deepEqual(Object.keys(roomy), ['a', 'b', 'cut']);
    assert.ok(jsonBytes(roomy) <= FIT.maxBytes);
  });

  test('keepArrayPrefix keeps an array’s first items and says how many', () => {
    const value = { items: Array.from({ length: 50 }, (_, i) => `${i}`.padEnd(1000, '.')) };
    assert.deepEqual(Object.keys(fitJson(value, FIT)), ['cut']);
    const fitted = fitJson(value, { ...FIT, keepArrayPrefix: true });
    const kept = fitted['items'] as string[];
    assert.equal(kept.length, 9);
    assert.deepEqual(kept, value.items.slice(0, 9));
    assert.match(fitted['cut'] as string, /; cut: items \(9 of 50 kept\)$/);
  });

  test('with refits, an earlier marker is not counted and fitting again changes nothing', () => {
    const value = { a: 'a'.repeat(4000), b: 'b'.repeat(4000), c: 'c'.repeat(4000) };
    const once = fitJson(value, { ...FIT, refits: true });
    assert.deepEqual(fitJson(once, { ...FIT, refits: true }), once);
    // Without it a field of the marker's name is counted like any other, and takes the marker's words.
    const named = fitJson({ cut: 'mine', ...value }, FIT);
    assert.deepEqual(Object.keys(named), ['cut', 'a', 'b']);
    assert.match(named['cut'] as string, /; cut: c$/);
  });
});
