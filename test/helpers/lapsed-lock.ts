import type { SubjectLock } from '../../functions/attach/lock.ts';
import { DependencyError } from '../../functions/errors.ts';

/**
 * A lock whose hold fails its check, as a cross-instance lease does once taken over or about to
 * lapse: `lock` runs the work, and `error` is what the work's check throws.
 */
export function lapsedLock(subject: string): { lock: SubjectLock; error: DependencyError } {
  const error = new DependencyError('firestore', `the attach lock on ${subject} is about to lapse`, {
    subject,
  });
  return {
    error,
    lock: {
      lock: (_subject, fn) =>
        fn({
          check() {
            throw error;
          },
        }),
    },
  };
}
