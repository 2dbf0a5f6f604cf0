/**
 * The retrieve answer read by hand (rekor-v1-retrieved.ts) against the zod schema it replaces on a
 * scan's path: for answers near the valid shape, with one field turned into something else, the
 * hand reading together with the checks it leaves to decoding (canonical base64, hex hashes)
 * accepts exactly what the schema accepts, and yields the same entries, unknown fields dropped.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import fc from 'fast-check';
import {
  canonicalBase64,
  hexHashes,
  retrievedEntries,
} from '../../../functions/tlog/client/rekor-v1-retrieved.ts';
import { retrievedEntriesSchema } from '../../../functions/tlog/client/rekor-v1-schema.ts';
import type { LogEntry, RekorV1Entry } from '../../../functions/tlog/client/types.ts';

const hex = (s: string) => createHash('sha256').update(s).digest('hex');

function validEntry(i: number): Record<string, unknown> {
  return {
    logID: hex('log'),
    logIndex: i,
    body: Buffer.from(`{"entry":${i}}`).toString('base64'),
    integratedTime: 1_700_000_000 + i,
    verification: {
      signedEntryTimestamp: Buffer.from(`set ${i}`).toString('base64'),
      inclusionProof: {
        logIndex: i,
        rootHash: hex('root'),
        treeSize: 100,
        hashes: [hex(`a${i}`), hex(`b${i}`)],
        checkpoint: `rekor.example.com - 1\n100\n${Buffer.from(hex('root'), 'hex').toString('base64')}\n`,
      },
    },
  };
}

/** The paths a mutation may replace, deletes (undefined) included. */
const PATHS = [
  [],
  ['logID'],
  ['logIndex'],
  ['body'],
  ['integratedTime'],
  ['verification'],
  ['verification', 'signedEntryTimestamp'],
  ['verification', 'inclusionProof'],
  ['verification', 'inclusionProof', 'logIndex'],
  ['verification', 'inclusionProof', 'rootHash'],
  ['verification', 'inclusionProof', 'treeSize'],
  ['verification', 'inclusionProof', 'hashes'],
  ['verification', 'inclusionProof', 'hashes', 0],
  ['verification', 'inclusionProof', 'hashes', 1],
  ['verification', 'inclusionProof', 'checkpoint'],
  ['verification', 'unknownField'],
  ['unknownField'],
] as const;

/** Values near the edges of each field's shape. */
const EDGES: unknown[] = [
  undefined,
  null,
  0,
  -1,
  1.5,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 1,
  Number.NaN,
  '',
  'e30=',
  'e30',
  'e31=', // non-zero trailing bits
  'e3-_', // URL-safe letters
  'e3 0=',
  '====',
  hex('x'),
  hex('x').toUpperCase(),
  `${hex('x').slice(0, 63)}g`,
  hex('x').slice(0, 63),
  `${hex('x')}0`,
  [],
  [hex('y')],
  [hex('y'), 7],
  {},
  [{}],
];

/** The edges, and anything else. */
const nearMiss = fc.oneof(fc.constantFrom(...EDGES), fc.string(), fc.integer(), fc.double(), fc.anything());

function withValue(entry: Record<string, unknown>, path: readonly (string | number)[], value: unknown) {
  if (path.length === 0) return value;
  const copy = structuredClone(entry) as Record<string | number, unknown>;
  let at = copy;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (value === undefined) delete at[last];
  else at[last] = value;
  return copy;
}

/** What the scan's path accepts: the hand reading, then the checks made where values are decoded. */
function handAccepts(json: unknown): LogEntry[] | undefined {
  const read = retrievedEntries(json);
  if (!read.ok) return undefined;
  for (const e of read.entries) {
    if (canonicalBase64(e.body) === undefined) return undefined;
    if (Buffer.from(e.logID, 'hex').length !== 32) return undefined; // the log ID comparison
    const set = e.verification?.signedEntryTimestamp;
    if (set !== undefined && canonicalBase64(set) === undefined) return undefined;
    const proof = e.verification?.inclusionProof;
    if (proof !== undefined) {
      if (Buffer.from(proof.rootHash, 'hex').length !== 32) return undefined;
      if (hexHashes(proof.hashes) === undefined) return undefined;
    }
  }
  return read.entries;
}

function schemaAccepts(json: unknown): LogEntry[] | undefined {
  const parsed = retrievedEntriesSchema.safeParse(json);
  if (!parsed.success) return undefined;
  const out: LogEntry[] = [];
  for (const answer of parsed.data) {
    const pairs = Object.entries(answer);
    if (pairs.length !== 1) return undefined; // the client's `single`
    const [uuid, entry] = pairs[0]! as [string, RekorV1Entry];
    out.push({ ...entry, uuid });
  }
  return out;
}

type Shape = 'wrap' | 'extra-uuid' | 'plain';

/** The three-entry answer with entry `target`'s `path` set to `value`, both readings compared. */
function sameVerdict(target: number, path: readonly (string | number)[], value: unknown, shape: Shape) {
  const entries = [0, 1, 2].map(validEntry);
  entries[target] = withValue(entries[target]!, path, value) as Record<string, unknown>;
  const answer = entries.map((e, i) =>
    shape === 'extra-uuid' && i === target ? { [hex(`u${i}`)]: e, [hex('other')]: e } : { [hex(`u${i}`)]: e },
  );
  const json = shape === 'wrap' && target === 2 ? { entries: answer } : answer;
  const byHand = handAccepts(json);
  const bySchema = schemaAccepts(json);
  assert.deepEqual(byHand, bySchema, `path ${path.join('.')} = ${inspect(value)}`);
}

describe('the retrieve answer read by hand', () => {
  it('accepts what the schema accepts at every field’s edges, and yields the same entries', () => {
    for (const path of PATHS) for (const value of EDGES) sameVerdict(1, path, value, 'plain');
  });

  it('accepts what the schema accepts, refuses what it refuses, for anything in any field', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 }),
        fc.constantFrom(...PATHS),
        nearMiss,
        fc.constantFrom<Shape>('wrap', 'extra-uuid', 'plain'),
        sameVerdict,
      ),
      { numRuns: 2000 },
    );
  });

  it('names where an answer is malformed', () => {
    const entry = validEntry(0);
    const bad = withValue(entry, ['verification', 'inclusionProof', 'hashes', 1], 42);
    assert.deepEqual(retrievedEntries([{ [hex('u')]: bad }]), {
      ok: false,
      path: `0.${hex('u')}.verification.inclusionProof.hashes.1`,
    });
    assert.deepEqual(retrievedEntries({}), { ok: false, path: '(root)' });
  });

  it('decodes a proof’s hashes together and hands each out as it is reached', () => {
    const hashes = [hex('a'), hex('b').toUpperCase()];
    const decoded = [...hexHashes(hashes)!];
    assert.deepEqual(
      decoded.map((b) => Buffer.from(b).toString('hex')),
      [hex('a'), hex('b')],
    );
    assert.equal(hexHashes([hex('a'), `${hex('b').slice(0, 62)}zz`]), undefined);
    assert.deepEqual([...hexHashes([])!], []);
  });
});
