/**
 * Entry bundles (c2sp.org/tlog-tiles) are read with their width as a bound on their entries: a
 * bundle of empty entries within its byte limit would otherwise be a view per two bytes, 8 million
 * for 16 MiB, which the monitor's 256 MiB heap does not hold (found by review).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeEntryBundle, parseEntryBundle } from '../../../functions/tlog/tiles/bundle.ts';

test('a bundle of more entries than its width is refused as it is read', () => {
  const zeros = Buffer.alloc(2 * 1024 * 1024); // 1,048,576 empty entries
  const started = process.memoryUsage().heapUsed;
  assert.throws(() => parseEntryBundle(zeros, 256), /more than 256 entries/);
  assert.ok(process.memoryUsage().heapUsed - started < 16 * 1024 * 1024, 'no view per entry was made');
});

test('a bundle of exactly its width reads whole, and without a width as before', () => {
  const entries = Array.from({ length: 256 }, (_, i) => Buffer.from(`entry ${i}`));
  const bundle = encodeEntryBundle(entries);
  assert.deepEqual(parseEntryBundle(bundle, 256), entries);
  assert.deepEqual(parseEntryBundle(bundle), entries);
  assert.throws(() => parseEntryBundle(bundle, 255), RangeError);
});
