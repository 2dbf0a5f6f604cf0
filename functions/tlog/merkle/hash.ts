import { hash } from 'node:crypto';

/** RFC 6962 §2.1 domain separation: leaves and interior nodes can never collide. */
const LEAF_PREFIX = 0x00;
const NODE_PREFIX = 0x01;

export const HASH_SIZE = 32;

/** SHA-256 of the empty string: the root of an empty tree. */
export const EMPTY_ROOT: Buffer = hash('sha256', Buffer.alloc(0), 'buffer');

// A scan hashes millions of leaves and nodes, so two costs are kept out of each hash:
// - the input is one buffer for crypto.hash (one-shot; a Hash object with update() calls costs
//   several times the hashing), written into a reused scratch buffer rather than a new one;
// - the digest comes out as a 'binary' (latin1) string, one char per byte, and is copied into
//   pooled or the caller's memory: crypto.hash's 'buffer' output allocates an ArrayBuffer per
//   digest, which costs three times the hashing of a node and leaves the garbage collector a
//   backing store to free for each.

/** Inputs up to a bundle entry's size reuse one buffer; hashing is synchronous, so it is never shared. */
const SCRATCH_MAX = 1 + 0xffff;
let scratch = Buffer.allocUnsafe(4096);

function prefixed(prefix: number, data: Uint8Array): Buffer {
  const size = 1 + data.length;
  if (size > scratch.length) {
    if (size > SCRATCH_MAX) {
      const input = Buffer.allocUnsafe(size);
      input[0] = prefix;
      input.set(data, 1);
      return input;
    }
    scratch = Buffer.allocUnsafe(SCRATCH_MAX);
  }
  scratch[0] = prefix;
  scratch.set(data, 1);
  return scratch.subarray(0, size);
}

function nodeInput(left: Uint8Array, right: Uint8Array): Buffer {
  const input = prefixed(NODE_PREFIX, left);
  if (1 + left.length + right.length > scratch.length) return Buffer.concat([input, right]);
  scratch.set(right, 1 + left.length);
  return scratch.subarray(0, 1 + left.length + right.length);
}

const digest = (input: Uint8Array): string => hash('sha256', input, 'binary');

export function hashLeaf(data: Uint8Array): Buffer {
  return Buffer.from(digest(prefixed(LEAF_PREFIX, data)), 'binary');
}

export function hashChildren(left: Uint8Array, right: Uint8Array): Buffer {
  return Buffer.from(digest(nodeInput(left, right)), 'binary');
}

/** hashLeaf(data), written to out[offset, offset + 32). */
export function hashLeafInto(data: Uint8Array, out: Buffer, offset: number): void {
  writeDigest(digest(prefixed(LEAF_PREFIX, data)), out, offset);
}

/** hashChildren(left, right), written to out[offset, offset + 32). */
export function hashChildrenInto(left: Uint8Array, right: Uint8Array, out: Buffer, offset: number): void {
  writeDigest(digest(nodeInput(left, right)), out, offset);
}

function writeDigest(digestLatin1: string, out: Buffer, offset: number): void {
  if (offset < 0 || offset + HASH_SIZE > out.length) {
    throw new RangeError(`a hash does not fit at byte ${offset} of ${out.length}`);
  }
  out.write(digestLatin1, offset, HASH_SIZE, 'binary');
}
