/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit. Slow and obviously correct; the
 * emulator keeps its own copy instead of the product's table-driven one, so a bug in either shows
 * up as a mismatch between them.
 */
export function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
