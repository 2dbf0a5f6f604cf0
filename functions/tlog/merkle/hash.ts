import { createHash } from 'node:crypto';

/** RFC 6962 §2.1 domain separation: leaves and interior nodes can never collide. */
const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

export const HASH_SIZE = 32;

/** SHA-256 of the empty string: the root of an empty tree. */
export const EMPTY_ROOT: Buffer = createHash('sha256').digest();

export function hashLeaf(data: Uint8Array): Buffer {
  return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
}

export function hashChildren(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}
