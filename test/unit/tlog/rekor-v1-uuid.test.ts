/**
 * A Rekor v1 entry UUID is the hex RFC 6962 leaf hash of the entry's body, optionally after a
 * 16-hex-digit tree ID (an entry ID). The client must not return an entry under a UUID that is not
 * its own, nor answer a request for one UUID with another entry. The emulator is honest; a fetch
 * between it and the client rewrites its answers as a lying log would.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import type { RekorServer } from '../../../emulators/rekor/server.ts';
import { LogIntegrityError, RekorV1Client } from '../../../functions/tlog/client/index.ts';
import type { LogEntry } from '../../../functions/tlog/client/types.ts';
import { hashLeaf } from '../../../functions/tlog/merkle/index.ts';
import { hashedRekordProposal } from '../../helpers/hashedrekord.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';

const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });

// ECDSA signatures are randomised: a proposal is made once, so that proposing it again is a re-append.
const proposals = new Map<number, Record<string, unknown>>();
function proposal(i: number): Record<string, unknown> {
  const made = proposals.get(i);
  if (made !== undefined) return made;
  const proposed = hashedRekordProposal(key, Buffer.from(`uuid artifact ${i}`)).body;
  proposals.set(i, proposed);
  return proposed;
}

const leafHashHex = (entry: LogEntry): string => hashLeaf(Buffer.from(entry.body, 'base64')).toString('hex');

/** The entry as the log serves it: a one-pair map from its UUID. */
const served = ({ uuid, ...entry }: LogEntry): Record<string, unknown> => ({ [uuid]: entry });

const integrity = (reason: string, details: Record<string, unknown>) => (err: unknown) => {
  assert.ok(err instanceof LogIntegrityError, String(err));
  assert.equal(err.reason, reason, err.message);
  for (const [name, value] of Object.entries(details)) assert.equal(err.details[name], value, name);
  return true;
};

type Rewrite = (
  url: string,
  status: number,
  json: unknown,
) => { status: number; json: unknown; headers?: Record<string, string> };

describe('Rekor v1 client: an entry UUID must be the leaf hash of the entry it names', () => {
  let log: TestLog;
  let server: RekorServer;
  /** Talks to the emulator directly. */
  let honest: RekorV1Client;
  /** Talks to the emulator through `rewrite`. */
  let lying: RekorV1Client;
  let rewrite: Rewrite | undefined;
  let entries: LogEntry[];

  before(async () => {
    log = await startTestLog('rekor-uuid');
    server = log.rekor;
    const options = { baseUrl: server.url, logKey: server.publicKeyPem, retries: 0, timeoutMs: 5000 };
    honest = new RekorV1Client(options);
    lying = new RekorV1Client({
      ...options,
      fetch: (async (input: string | URL | Request, init?: RequestInit) => {
        const res = await fetch(input, init);
        if (rewrite === undefined) return res;
        const text = await res.text();
        const answer = rewrite(String(input), res.status, text === '' ? undefined : JSON.parse(text));
        return new Response(JSON.stringify(answer.json), {
          status: answer.status,
          headers: { 'content-type': 'application/json', ...answer.headers },
        });
      }) as typeof fetch,
    });
    entries = [];
    for (let i = 0; i < 4; i++) entries.push(await honest.append(proposal(i)));
  });
  afterEach(() => {
    rewrite = undefined;
  });
  after(async () => {
    await log.stop();
  });

  it("the emulator's UUIDs are entry IDs (tree ID + leaf hash), accepted in every form Rekor allows", async () => {
    const entry = entries[2]!;
    assert.match(entry.uuid, /^[0-9a-f]{80}$/);
    assert.equal(entry.uuid.slice(16), leafHashHex(entry));
    for (const asked of [entry.uuid, entry.uuid.slice(16), entry.uuid.toUpperCase()]) {
      const found = await honest.getEntryByUuid(asked);
      assert.equal(found.logIndex, entry.logIndex, asked);
      assert.equal(found.uuid, entry.uuid);
    }
    // openapi.yaml's entryUUID pattern admits upper-case hex: an answer keyed so is the same UUID.
    rewrite = (_url, status) => ({ status, json: served({ ...entry, uuid: entry.uuid.toUpperCase() }) });
    assert.equal((await lying.getEntryByUuid(entry.uuid)).logIndex, entry.logIndex);
    assert.equal((await lying.getEntryByIndex(entry.logIndex)).logIndex, entry.logIndex);
    const bare = { ...entry, uuid: entry.uuid.slice(16) }; // a log without tree IDs
    rewrite = (_url, status) => ({ status, json: served(bare) });
    assert.equal((await lying.getEntryByUuid(entry.uuid)).uuid, bare.uuid);
    // Only the leaf-hash part identifies the entry: another tree ID's prefix is not compared (the
    // emulator, as Rekor, looks an entry ID up in the tree it names; here the log answers anyway).
    rewrite = () => ({ status: 200, json: served(entry) });
    assert.equal((await lying.getEntryByUuid(`${'f'.repeat(16)}${entry.uuid.slice(16)}`)).uuid, entry.uuid);
    rewrite = undefined;
    await assert.rejects(honest.getEntryByUuid(`${'f'.repeat(16)}${entry.uuid.slice(16)}`), /404/);
  });

  it('asked for one UUID, the log answers with another genuine entry under that one’s own UUID', async () => {
    const [asked, other] = [entries[1]!, entries[3]!];
    rewrite = (_url, status) => ({ status, json: served(other) });
    for (const requested of [asked.uuid, asked.uuid.slice(16)]) {
      await assert.rejects(
        lying.getEntryByUuid(requested),
        integrity('wrong-uuid', { requestedUuid: requested, uuid: other.uuid, logIndex: other.logIndex }),
      );
    }
  });

  it('asked for one UUID, the log answers with another genuine entry relabelled with the UUID asked for', async () => {
    const [asked, other] = [entries[0]!, entries[2]!];
    rewrite = (_url, status) => ({ status, json: served({ ...other, uuid: asked.uuid }) });
    await assert.rejects(
      lying.getEntryByUuid(asked.uuid),
      integrity('wrong-uuid', { requestedUuid: asked.uuid, uuid: asked.uuid, logIndex: other.logIndex }),
    );
    // A UUID that is no UUID at all, as in the reviewer's probe.
    rewrite = (_url, status) => ({ status, json: served({ ...other, uuid: 'not-a-uuid-at-all' }) });
    await assert.rejects(
      lying.getEntryByUuid(asked.uuid),
      integrity('wrong-uuid', {
        requestedUuid: asked.uuid,
        uuid: 'not-a-uuid-at-all',
        logIndex: other.logIndex,
      }),
    );
  });

  it('an entry read by index, in a range or on append is refused under a UUID that is not its leaf hash', async () => {
    const [entry, other] = [entries[1]!, entries[2]!];
    const notItsLeaf = integrity('uuid-not-leaf-hash', { uuid: other.uuid, logIndex: entry.logIndex });
    // Every map of the answer (one, or one per entry of a range) keeps its keys but `entry`'s.
    const relabel = (json: unknown): unknown =>
      Array.isArray(json)
        ? json.map(relabel)
        : Object.fromEntries(
            Object.entries(json as Record<string, LogEntry>).map(([uuid, e]) =>
              e.logIndex === entry.logIndex ? [other.uuid, e] : [uuid, e],
            ),
          );
    rewrite = (_url, status, json) => ({ status, json: relabel(json) });
    await assert.rejects(lying.getEntryByIndex(entry.logIndex), notItsLeaf);
    await assert.rejects(lying.getEntries(0, entries.length), notItsLeaf);
    // A fresh append answered (201) under another entry's UUID.
    rewrite = (_url, status, json) => {
      const [created] = Object.values(json as Record<string, LogEntry>);
      return { status, json: { [other.uuid]: created } };
    };
    await assert.rejects(lying.append(proposal(50)), integrity('uuid-not-leaf-hash', { uuid: other.uuid }));
    // And an entry from elsewhere (a stored record) is checked the same way.
    assert.throws(() => honest.verifyEntry({ ...entry, uuid: other.uuid }, entry.logIndex), notItsLeaf);
    const lastDigitFlipped = entry.uuid.slice(0, -1) + (entry.uuid.endsWith('0') ? '1' : '0');
    assert.throws(
      () => honest.verifyEntry({ ...entry, uuid: lastDigitFlipped }),
      integrity('uuid-not-leaf-hash', { uuid: lastDigitFlipped, leafHash: leafHashHex(entry) }),
    );
  });

  it('re-append (409): the entry at the Location the log names must be the entry that UUID identifies', async () => {
    const [existing, other] = [entries[0]!, entries[3]!];
    // Honest 409: the existing entry is fetched and returned.
    assert.equal((await honest.append(proposal(0))).uuid, existing.uuid);
    // The Location names the existing entry, but the log answers that UUID with another one.
    rewrite = (url, status, json) =>
      url.includes('/api/v1/log/entries/')
        ? { status, json: served(other) }
        : { status, json, headers: { Location: `/api/v1/log/entries/${existing.uuid}` } };
    await assert.rejects(
      lying.append(proposal(0)),
      integrity('wrong-uuid', { requestedUuid: existing.uuid, uuid: other.uuid, logIndex: other.logIndex }),
    );
    // A Location that names no entry UUID is not followed.
    rewrite = (_url, status, json) => ({ status, json, headers: { Location: '/api/v1/log/entries/../log' } });
    await assert.rejects(lying.append(proposal(0)), integrity('malformed', {}));
  });
});
