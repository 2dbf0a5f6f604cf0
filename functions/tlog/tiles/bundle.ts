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
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (out.length >= maxEntries) throw new RangeError(`entry bundle holds more than ${maxEntries} entries`);
    if (pos + 2 > buf.length)
      throw new RangeError(`entry bundle truncated in a length prefix at byte ${pos}`);
    const len = buf.readUInt16BE(pos);
    pos += 2;
    if (pos + len > buf.length) throw new RangeError(`entry bundle truncated in entry ${out.length}`);
    out.push(buf.subarray(pos, pos + len));
    pos += len;
  }
  return out;
}
