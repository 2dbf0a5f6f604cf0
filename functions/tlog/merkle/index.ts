export { MerkleProofError } from './errors.ts';
export { EMPTY_ROOT, HASH_SIZE, hashChildren, hashLeaf } from './hash.ts';
export type { NodeReader } from './proofs.ts';
export {
  consistencyProof,
  inclusionProof,
  MemoryLevels,
  rootAt,
  rootFromLeafHashes,
  subtreeRoot,
} from './proofs.ts';
export {
  inclusionPathLength,
  type ProofNodes,
  ProvenNodes,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
} from './verify.ts';
