export { LogIntegrityError, LogResponseTooLargeError } from './errors.ts';
export { LogHttpError } from './http.ts';
export type { RekorV1ClientOptions } from './rekor-v1.ts';
export { RekorV1Client } from './rekor-v1.ts';
export type { HashedRekordV002Input, RekorV2ClientOptions, RekorV2Entry, TiledEntry } from './rekor-v2.ts';
export {
  parseTransparencyLogEntry,
  RekorV2Client,
  transparencyLogEntryJson,
  verifyRekorV2Checkpoint,
} from './rekor-v2.ts';
export type { LogEntry, RekorV1Entry } from './types.ts';
