/**
 * RekorV1Source proves each tree a read's entries are proven in once, against the run's head. The
 * client's answers come back concurrently, out of order: a tree that fails names the lowest entry
 * proven in it, as the scan's evidence did when entries were proven one by one in log order. The
 * client here hands entries to `keep` in reverse; its own checks are tested in test/unit/tlog/.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type RekorV1Reader, RekorV1Source } from '../../../functions/monitor-log/rekor-v1-source.ts';
import type { VerifiedCheckpoint } from '../../../functions/tlog/checkpoint/verify.ts';
import { LogIntegrityError } from '../../../functions/tlog/client/errors.ts';
import type { LogEntry } from '../../../functions/tlog/client/types.ts';

const headRoot = Buffer.alloc(32, 0xab);
const head = { origin: 'rekor.example.com - 1', size: 100, rootHash: headRoot } as VerifiedCheckpoint;
const signature = Buffer.alloc(68).toString('base64');
const noteOf = (origin: string, size: number, root: Buffer) =>
  `${origin}\n${size}\n${root.toString('base64')}\n\n— rekor.example.com ${signature}\n`;

/** Entries [start, end), each proven in a tree of another origin, answered last entry first. */
function readerAnsweringInReverse(): RekorV1Reader {
  const otherRoot = Buffer.alloc(32, 0xcd);
  const entry = (i: number): LogEntry => ({
    uuid: `u${i}`,
    logID: '00'.repeat(32),
    logIndex: i,
    integratedTime: 1,
    body: 'e30=',
    verification: {
      signedEntryTimestamp: 'AA==',
      inclusionProof: {
        logIndex: i,
        treeSize: 100,
        rootHash: otherRoot.toString('hex'),
        hashes: [],
        checkpoint: noteOf('elsewhere.example.com - 2', 100, otherRoot),
      },
    },
  });
  return {
    getLogInfo: () => Promise.resolve({ checkpoint: head, indexOffset: 0, inactiveShards: [] }) as never,
    verifyConsistency: () => Promise.resolve(),
    verifySignedEntryTimestamp: () => {},
    scanEntries: async <T>(start: number, end: number, keep: (e: LogEntry, body: Buffer) => T) => {
      const out: T[] = new Array(end - start);
      for (let i = end - 1; i >= start; i--) out[i - start] = keep(entry(i), Buffer.from('{}'));
      return out;
    },
  };
}

describe('a v1 read whose entries are proven in a tree of another log', () => {
  it('fails naming the lowest entry proven in that tree, whatever order the answers came in', async () => {
    const source = new RekorV1Source({
      client: readerAnsweringInReverse(),
      url: 'https://rekor.example.com',
    });
    await assert.rejects(source.readEntries(10, 16, head), (err: unknown) => {
      assert.ok(err instanceof LogIntegrityError);
      assert.equal(err.reason, 'wrong-origin');
      assert.equal(err.details['logIndex'], 10, err.message);
      assert.match(err.message, /entry 10 is proven in elsewhere\.example\.com - 2/);
      return true;
    });
  });
});
