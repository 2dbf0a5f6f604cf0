/**
 * A Rekor v1 answer is refused before it is parsed when it holds more JSON objects and arrays than
 * its entries can (limits.ts): within its 20 MiB byte limit, `[{},{},…]` added to each entry is
 * millions of objects, past the monitor's 256 MiB heap, and the entries otherwise verify (found by
 * review). Fields the client does not read are dropped, not held with the entry until its batch is
 * processed. The answers come from the Rekor emulator; a fetch adds the fields a log or CDN could.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RekorServer, startRekorServer } from '../../../emulators/rekor/server.ts';
import { LogIntegrityError, RekorV1Client } from '../../../functions/tlog/client/index.ts';
import { appendFillerEntry } from '../../helpers/hashedrekord.ts';

const RETRIEVE = '/api/v1/log/entries/retrieve';

describe('Rekor v1 answers holding more objects and arrays than their entries can', () => {
  let rekor: RekorServer;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'v1-containers-'));
    rekor = await startRekorServer({ dataDir: join(dir, 'rekor') });
    for (let i = 0; i < 10; i++) await appendFillerEntry(rekor.url, `entry ${i}`);
  });
  after(async () => {
    await rekor?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A client whose retrieve answers get `extra` added to each entry. */
  const client = (extra: unknown) =>
    new RekorV1Client({
      baseUrl: rekor.url,
      logKey: rekor.publicKeyPem,
      retries: 0,
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        if (new URL(String(input)).pathname !== RETRIEVE || res.status !== 200) return res;
        const answer = (await res.json()) as Array<Record<string, Record<string, unknown>>>;
        for (const entry of answer.flatMap((m) => Object.values(m))) entry.extra = extra;
        return new Response(JSON.stringify(answer), {
          status: 200,
          headers: { 'content-type': 'application/json' },
        });
      },
    });

  it('refuses an answer of many empty objects before parsing it, naming it malformed', async () => {
    const many = Array.from({ length: 5000 }, () => ({}));
    await assert.rejects(
      client(many).getEntries(0, 10),
      (err: unknown) =>
        err instanceof LogIntegrityError &&
        err.reason === 'malformed' &&
        /retrieved entries holds more than \d+ JSON objects and arrays/.test(err.message),
    );
  });

  it('reads an answer with a few added fields, and keeps only the fields it reads', async () => {
    const entries = await client({ note: 'added by a newer Rekor', list: [1, 2] }).getEntries(0, 10);
    assert.equal(entries.length, 10);
    for (const entry of entries) assert.equal((entry as unknown as Record<string, unknown>).extra, undefined);
  });
});
