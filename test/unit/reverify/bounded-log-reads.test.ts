/**
 * reverifyImages re-reads log entries it proves (InclusionRechecker): the log's answer is read with the
 * same limit as the log client's, so a gzip bomb or an endless answer cannot take the pass's memory.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { DependencyError } from '../../../functions/errors.ts';
import { InclusionRechecker } from '../../../functions/reverify/inclusion.ts';
import { V1_RETRIEVED_ENTRIES_MAX_BYTES } from '../../../functions/tlog/client/limits.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';

const MiB = 1024 * 1024;

/** A retrieve answer that is valid JSON (`[` spaces `]`) of `mib` MiB, counting the bytes read. */
function endlessAnswer(mib: number) {
  const read = { bytes: 0 };
  const spaces = new Uint8Array(MiB).fill(0x20);
  const fetch = (async () => {
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 0) controller.enqueue(new TextEncoder().encode('['));
        if (sent === mib) {
          controller.enqueue(new TextEncoder().encode(']'));
          controller.close();
          return;
        }
        controller.enqueue(spaces);
        read.bytes += MiB;
        sent++;
      },
    });
    return new Response(body, { status: 200 });
  }) as typeof globalThis.fetch;
  return { read, fetch };
}

test("the entries' re-read stops at the log client's limit and is a pass error, not an out-of-memory", async () => {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  const client = new RekorV1Client({ baseUrl: 'http://log.invalid', logKey: key, retries: 0 });
  // Without log info the rechecker goes straight to reading the entry.
  Object.assign(client, { getLogInfo: () => Promise.reject(new Error('info down')) });
  const answer = endlessAnswer(200);
  const rechecker = new InclusionRechecker({ client, baseUrl: 'http://log.invalid', fetch: answer.fetch });
  const err = await rechecker
    .recheck({ logId: client.logId.toString('hex'), logIndex: 5, bodyHash: 'x', integratedTime: 0 } as never)
    .catch((e: unknown) => e);
  assert.ok(err instanceof DependencyError, String(err));
  assert.match(err.message, /larger than its limit/);
  assert.ok(
    answer.read.bytes <= V1_RETRIEVED_ENTRIES_MAX_BYTES + 2 * MiB,
    `read ${answer.read.bytes / MiB} MiB of a 200 MiB answer`,
  );
});
