import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';

const HASH = 32;

/**
 * One level of the Merkle tree: an append-only row of 32-byte node hashes, kept in memory in one
 * growing buffer and mirrored to an append-only file. A million leaves cost 64 MB over all levels.
 */
export class HashRow {
  private buf: Buffer;
  private count = 0;
  private readonly fd: number;

  constructor(path: string) {
    this.fd = openSync(path, 'a+');
    const bytes = fstatSync(this.fd).size;
    const whole = Math.floor(bytes / HASH);
    if (whole * HASH !== bytes) ftruncateSync(this.fd, whole * HASH); // torn write at a crash
    this.buf = Buffer.alloc(Math.max(1024, whole * HASH * 2));
    if (whole > 0) readSync(this.fd, this.buf, 0, whole * HASH, 0);
    this.count = whole;
  }

  get length(): number {
    return this.count;
  }

  get(index: number): Buffer {
    if (index < 0 || index >= this.count) throw new RangeError(`no node ${index} (have ${this.count})`);
    return this.buf.subarray(index * HASH, (index + 1) * HASH);
  }

  push(hash: Uint8Array): void {
    if ((this.count + 1) * HASH > this.buf.length) {
      const bigger = Buffer.alloc(this.buf.length * 2);
      this.buf.copy(bigger, 0, 0, this.count * HASH);
      this.buf = bigger;
    }
    this.buf.set(hash, this.count * HASH);
    writeSync(this.fd, hash);
    this.count++;
  }

  /** Drops nodes beyond `length` (used when rebuilding after a crash between files). */
  truncate(length: number): void {
    if (length >= this.count) return;
    this.count = length;
    ftruncateSync(this.fd, length * HASH);
  }

  close(): void {
    closeSync(this.fd);
  }
}
