export { canonicalJson } from './canonical.ts';
export type { CertificateIdentity } from './identity.ts';
export { certificateIdentity } from './identity.ts';
export type {
  EntryParseError,
  EntryParseResult,
  EntrySignature,
  EntryVerifier,
  ParsedEntry,
} from './parse.ts';
export { parseEntryBody, verifierFromPem } from './parse.ts';
