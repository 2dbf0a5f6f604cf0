/**
 * Deletions kept in memory, by the rules of FirestoreDeletionStore (`nextDeletionRecord`): for tests
 * where Firestore is not what is under test.
 */
import {
  type Deletion,
  type DeletionRecord,
  type DeletionStore,
  nextDeletionRecord,
} from './deletion-records.ts';

export class MemoryDeletionStore implements DeletionStore {
  readonly records = new Map<string, DeletionRecord>();
  private readonly now: () => number;
  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  async record(deletion: Deletion): Promise<void> {
    const next = nextDeletionRecord(this.records.get(deletion.reference), deletion, this.now());
    if (next !== undefined) this.records.set(deletion.reference, next);
  }

  async find(reference: string): Promise<DeletionRecord | undefined> {
    const record = this.records.get(reference);
    return record === undefined ? undefined : structuredClone(record);
  }
}
