/**
 * FIRESTORE_DATABASE as every function and the CLI read it: the id of the Firestore database that
 * holds sigsentry's state (signing records, tag verdicts, monitor cursors, alerts, locks). Unset or
 * empty: the project's `(default)` database. Two installations in one project keep their state apart
 * by naming different databases (infra: `firestore_database`, with `name_prefix`).
 *
 * The id is read exactly, as Firestore defines it (REST `projects.databases.create`, `databaseId`):
 * 4 to 63 characters of `a-z`, `0-9` and `-`, a letter first, a letter or a digit last, not
 * UUID-like; or exactly `(default)`. Anything else is refused here, naming the variable: a typo or
 * stray white space would otherwise reach Firestore as another database, and the first read or write
 * would fail with NOT_FOUND far from the mistake. infra/variables.tf validates `firestore_database`
 * with the same patterns, and a test checks the two agree.
 */
import type { Settings } from '@google-cloud/firestore';
import { InvalidInputError } from '../errors.ts';

export const DEFAULT_DATABASE = '(default)';

/** A named database's id: 4–63 characters, lower-case letters, digits and hyphens, a letter first, no hyphen last. */
export const DATABASE_ID = /^[a-z][a-z0-9-]{2,61}[a-z0-9]$/;

/** Firestore refuses an id that looks like a UUID. */
export const UUID_LIKE = /^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/;

/** The database FIRESTORE_DATABASE names: its id, or `(default)` when unset or empty. */
export function firestoreDatabaseFromEnv(env: NodeJS.ProcessEnv): string {
  const value = env.FIRESTORE_DATABASE;
  if (value === undefined || value === '' || value === DEFAULT_DATABASE) return DEFAULT_DATABASE;
  if (!DATABASE_ID.test(value) || UUID_LIKE.test(value)) {
    throw new InvalidInputError(
      `FIRESTORE_DATABASE is ${JSON.stringify(value)}, which is not a Firestore database id: give 4 to 63 ` +
        'lower-case letters, digits or hyphens, starting with a letter and not ending with a hyphen ' +
        '(and not a UUID), or (default), or leave it unset for the (default) database',
      { variable: 'FIRESTORE_DATABASE' },
    );
  }
  return value;
}

/** Settings of a Firestore client on the database FIRESTORE_DATABASE names, undefined properties dropped. */
export type FirestoreSettings = Settings & { ignoreUndefinedProperties: true };

/**
 * The settings every `new Firestore(...)` of sigsentry is built with: the project, the database
 * FIRESTORE_DATABASE names (no `databaseId` for `(default)`, the client's own default), and
 * undefined properties dropped. Throws InvalidInputError for a malformed FIRESTORE_DATABASE.
 */
export function firestoreSettings(env: NodeJS.ProcessEnv, projectId: string | undefined): FirestoreSettings {
  const database = firestoreDatabaseFromEnv(env);
  return {
    ...(projectId !== undefined ? { projectId } : {}),
    ...(database !== DEFAULT_DATABASE ? { databaseId: database } : {}),
    ignoreUndefinedProperties: true,
  };
}
