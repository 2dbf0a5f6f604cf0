/**
 * CRC32C (Castagnoli; reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF), the
 * checksum Cloud KMS uses for its request and response integrity fields. Table-driven, one byte
 * per step: KMS payloads here are digests and signatures of a few hundred bytes.
 */

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC32C of `data`; pass a previous result as `crc` to continue a checksum over several chunks. */
export function crc32c(data: Uint8Array, crc = 0): number {
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * Reads a google.protobuf.Int64Value checksum as the client library hands it over (number, string,
 * or Long-like object), or undefined when the field is absent.
 */
export function int64Checksum(value: { value?: unknown } | null | undefined): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.value;
  if (v === null || v === undefined) return 0;
  const n = Number(typeof v === 'object' ? String(v) : v);
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff ? n : Number.NaN;
}
