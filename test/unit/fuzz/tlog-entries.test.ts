/**
 * Fuzzing Rekor entry bodies (parseEntryBody): real bodies from the public-good and staging logs with one
 * value anywhere in them replaced, removed or poisoned, and plain garbage. parseEntryBody promises never to
 * throw (a log scan must go on past what it cannot read): every input gives a result object.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type EntryParseResult, parseEntryBody } from '../../../functions/tlog/entries/index.ts';
import {
  deepJsonText,
  garbageBytes,
  hostileJsonObjectText,
  hostileJsonText,
  outcome,
  POISON_VALUES,
  runs,
} from './hostile.ts';

const ENTRIES = join(import.meta.dirname, '../../fixtures/tlog/entries');

/** Decoded bodies of every real entry in the fixtures (v1 responses and the v2 TransparencyLogEntry). */
const REAL_BODIES: ReadonlyArray<{ file: string; kind: string; body: unknown }> = readdirSync(ENTRIES)
  .filter((f) => f.endsWith('.json'))
  .map((file) => {
    const json = JSON.parse(readFileSync(join(ENTRIES, file), 'utf8')) as Record<string, unknown>;
    const b64 =
      typeof json['canonicalizedBody'] === 'string'
        ? json['canonicalizedBody']
        : (Object.values(json)[0] as { body: string }).body;
    const body = JSON.parse(Buffer.from(b64, 'base64').toString('utf8')) as { kind: string };
    return { file, kind: body.kind, body };
  });

const ENTRY_KEYS = [
  'kind',
  'apiVersion',
  'spec',
  'signature',
  'content',
  'publicKey',
  'data',
  'hash',
  'algorithm',
  'value',
  'signatures',
  'verifier',
  'envelope',
  'payloadHash',
  'hashedRekordV002',
  'dsseV002',
  'rawBytes',
  'x509Certificate',
  'digest',
  'format',
  'sig',
];

type Path = Array<string | number>;

function paths(value: unknown, prefix: Path = []): Path[] {
  if (value === null || typeof value !== 'object') return [prefix];
  const children = Array.isArray(value)
    ? value.map((v, i) => paths(v, [...prefix, i]))
    : Object.entries(value).map(([k, v]) => paths(v, [...prefix, k]));
  return [prefix, ...children.flat()];
}

type Change = { op: 'set'; json: string } | { op: 'delete' } | { op: 'proto' };

const PROTO = '"__proto__":{"kind":"hashedrekord","spec":{"signature":{"content":"AA=="}}}';

/** `root` as JSON text with the value at `path` replaced or deleted, or with an own `__proto__` key added. */
function change(root: unknown, path: Path, c: Change): string {
  if (c.op === 'proto') return JSON.stringify(root).replace(/^\{/, `{${PROTO},`);
  if (path.length === 0) return c.op === 'set' ? c.json : 'null';
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let parent = copy;
  for (const p of path.slice(0, -1)) parent = parent[p] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (c.op === 'delete') {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
    return JSON.stringify(copy);
  }
  const marker = '\u0000SET\u0000';
  parent[last] = marker;
  return JSON.stringify(copy).replace(JSON.stringify(marker), c.json);
}

const replacement: fc.Arbitrary<Change> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), json: hostileJsonText(ENTRY_KEYS, 3) }),
  fc.record({
    op: fc.constant('set' as const),
    json: fc.constantFrom(...POISON_VALUES, '""', '"AA=="', '"!!"', '"zz"'),
  }),
  fc.constant({ op: 'delete' as const }),
  fc.constant({ op: 'proto' as const }),
);

const mutatedReal: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(...REAL_BODIES), fc.nat(), replacement)
  .map(([real, at, c]) => {
    const all = paths(real.body);
    return change(real.body, all[at % all.length]!, c);
  });

const anyBody: fc.Arbitrary<Buffer | string> = fc.oneof(
  { weight: 6, arbitrary: mutatedReal.map((t) => Buffer.from(t)) },
  { weight: 2, arbitrary: mutatedReal.map((t) => Buffer.from(t).toString('base64')) },
  { weight: 2, arbitrary: hostileJsonObjectText(ENTRY_KEYS).map((t) => Buffer.from(t)) },
  { weight: 1, arbitrary: garbageBytes.map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.string() },
  { weight: 1, arbitrary: deepJsonText.map((t) => Buffer.from(t)) },
);

function assertSoundResult(r: EntryParseResult, logIndex: number): void {
  if (!r.ok) {
    assert.ok(r.error.error === 'malformed' || r.error.error === 'unknown-kind');
    assert.equal(typeof r.error.message, 'string');
    assert.equal(r.error.logIndex, logIndex);
    return;
  }
  const e = r.entry;
  assert.ok(['hashedrekord', 'dsse', 'intoto', 'rekord'].includes(e.kind));
  assert.equal(typeof e.apiVersion, 'string');
  if (e.kind !== 'intoto') assert.ok(e.signatures.length > 0);
  assert.ok(['publicKey', 'certificate', 'other'].includes(e.verifier.type));
  for (const s of e.signatures) assert.ok(Buffer.isBuffer(s.signature));
  if (e.artifactDigest !== undefined) {
    assert.equal(typeof e.artifactDigest.algorithm, 'string');
    assert.match(e.artifactDigest.hex, /^[0-9a-f]*$/);
  }
  if (e.envelopeHash !== undefined) {
    assert.equal(e.kind, 'dsse');
    assert.equal(typeof e.envelopeHash.algorithm, 'string');
    assert.match(e.envelopeHash.hex, /^[0-9a-f]+$/);
  }
}

describe('fuzz: Rekor entry bodies (parseEntryBody)', () => {
  test('the real bodies parse (the anchor the mutations start from)', () => {
    assert.ok(REAL_BODIES.length >= 4);
    for (const real of REAL_BODIES) {
      const r = parseEntryBody(Buffer.from(JSON.stringify(real.body)), 1);
      if (real.kind === 'jar') assert.equal(!r.ok && r.error.error, 'unknown-kind', real.file);
      else assert.ok(r.ok && r.entry.kind === real.kind, real.file);
    }
  });

  test('any body, raw or base64: never throws; a sound entry or a typed parse error', () => {
    const outcomes = new Set<string>();
    fc.assert(
      fc.property(anyBody, fc.nat(), (body, logIndex) => {
        const r = outcome(() => parseEntryBody(body, logIndex));
        assert.ok(r.ok);
        assertSoundResult(r.value, logIndex);
        outcomes.add(r.value.ok ? 'ok' : r.value.error.error);
      }),
      runs(350),
    );
    if (process.env['FUZZ_SEED'] === undefined) {
      for (const o of ['ok', 'malformed', 'unknown-kind']) assert.ok(outcomes.has(o), `never ${o}`);
    }
  });
});
