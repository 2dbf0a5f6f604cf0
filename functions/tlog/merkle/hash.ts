import { hash } from 'node:crypto';

/** RFC 6962 §2.1 domain separation: leaves and interior nodes can never collide. */
const LEAF_PREFIX = 0x00;
const NODE_PREFIX = 0x01;

export const HASH_SIZE = 32;

/** SHA-256 of the empty string: the root of an empty tree. */
export const EMPTY_ROOT: Buffer = hash('sha256', Buffer.alloc(0), 'buffer');

// One-shot crypto.hash over one buffer: a scan hashes millions of nodes, and a Hash object with
// three update() calls costs several times more than the hashing itself.

export function hashLeaf(data: Uint8Array): Buffer {
  const input = Buffer.allocUnsafe(1 + data.length);
  input[0] = LEAF_PREFIX;
  input.set(data, 1);
  return hash('sha256', input, 'buffer');
}

export function hashChildren(left: Uint8Array, right: Uint8Array): Buffer {
  const input = Buffer.allocUnsafe(1 + left.length + right.length);
  input[0] = NODE_PREFIX;
  input.set(left, 1);
  input.set(right, 1 + left.length);
  return hash('sha256', input, 'buffer');
}
