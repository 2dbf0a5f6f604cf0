export { LogIntegrityError } from './errors.ts';
export { LogHttpError } from './http.ts';
export type { RekorV1ClientOptions } from './rekor-v1.ts';
export { RekorV1Client } from './rekor-v1.ts';
export type { LogEntry, RekorV1Entry } from './types.ts';
