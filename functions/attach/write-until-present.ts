/**
 * Optimistic read-modify-write for documents a registry cannot update conditionally (docker-registry 2.8
 * ignores If-Match): read, stop if our entry is there, else merge and write, then read again. A concurrent
 * writer that overwrote us is caught by the re-read and merged over; attempts are bounded.
 */
import { DependencyError } from '../errors.ts';

export interface ReadModifyWrite<T> {
  read(): Promise<T | undefined>;
  contains(current: T | undefined): boolean;
  /** Write `current` with our entry merged in. */
  write(current: T | undefined): Promise<void>;
}

export interface WriteUntilPresentOptions {
  readonly attempts?: number;
  /** Wait before retrying after a lost write; jittered so competing writers spread out. */
  readonly backoffMs?: number;
  readonly details: Record<string, unknown>;
  readonly onConflict?: (attempt: number) => void;
}

/** Returns whether this call wrote (false: the entry was already there: idempotent). */
export async function writeUntilPresent<T>(
  rmw: ReadModifyWrite<T>,
  options: WriteUntilPresentOptions,
): Promise<boolean> {
  const attempts = options.attempts ?? 5;
  const backoffMs = options.backoffMs ?? 25;
  let wrote = false;
  for (let attempt = 0; ; attempt++) {
    const current = await rmw.read();
    if (rmw.contains(current)) return wrote;
    if (wrote) {
      options.onConflict?.(attempt);
      if (attempt >= attempts) break;
      await new Promise((resolve) => setTimeout(resolve, backoffMs * attempt * (0.5 + Math.random())));
    }
    await rmw.write(current);
    wrote = true;
  }
  throw new DependencyError(
    'registry',
    `a concurrent writer kept overwriting the entry after ${attempts} attempts`,
    {
      ...options.details,
      attempts,
    },
  );
}
