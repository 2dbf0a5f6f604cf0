/** Entry bundles (c2sp.org/tlog-tiles): a sequence of big-endian uint16 length-prefixed entries. */
export const MAX_BUNDLE_ENTRY = 0xffff;

export function encodeEntryBundle(entries: readonly Uint8Array[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.length > MAX_BUNDLE_ENTRY) throw new RangeError(`entry of ${e.length} bytes does not fit a bundle`);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(e.length);
    parts.push(len, Buffer.from(e.buffer, e.byteOffset, e.length));
  }
  return Buffer.concat(parts);
}

/**
 * Splits a bundle into its entries; throws RangeError on a truncated one, or on one of more than
 * `maxEntries` (its width): a bundle of empty entries is a view per two bytes, 8 million for 16 MiB,
 * more than the monitor's heap holds, so the count is checked as it is read, not after.
 */
export function parseEntryBundle(bundle: Uint8Array, maxEntries = Number.POSITIVE_INFINITY): Buffer[] {
  const buf = Buffer.from(bundle.buffer, bundle.byteOffset, bundle.length);
  const spans = entryBundleSpans(buf, maxEntries);
  const out: Buffer[] = new Array(spans.length / 2);
  for (let k = 0; k < out.length; k++)
    out[k] = buf.subarray(spans[2 * k]!, spans[2 * k]! + spans[2 * k + 1]!);
  return out;
}

/**
 * Where a bundle's entries lie, as parseEntryBundle reads them: each entry's offset and length in
 * turn, two numbers an entry, and no view made. A scan holds a bundle while its proof is read;
 * views made before it would outlive the young generation in their hundreds.
 */
export function entryBundleSpans(bundle: Uint8Array, maxEntries = Number.POSITIVE_INFINITY): number[] {
  const spans: number[] = [];
  let pos = 0;
  while (pos < bundle.length) {
    if (spans.length / 2 >= maxEntries)
      throw new RangeError(`entry bundle holds more than ${maxEntries} entries`);
    if (pos + 2 > bundle.length)
      throw new RangeError(`entry bundle truncated in a length prefix at byte ${pos}`);
    const len = (bundle[pos]! << 8) | bundle[pos + 1]!;
    pos += 2;
    if (pos + len > bundle.length)
      throw new RangeError(`entry bundle truncated in entry ${spans.length / 2}`);
    spans.push(pos, len);
    pos += len;
  }
  return spans;
}
