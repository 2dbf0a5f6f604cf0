/**
 * A dsse 0.0.1 body keeps the hash of the envelope as sent (`spec.envelopeHash`), not the envelope:
 * parseEntryBody carries it, for the signing witness to compare with the envelope it sent. It is
 * optional: a body without one, or with one that cannot be read, parses as before, only without it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type ParsedEntry, parseEntryBody } from '../../../functions/tlog/entries/index.ts';

const DIR = join(import.meta.dirname, '../../fixtures/tlog/entries');
const firstEntryBody = (file: string): string =>
  Object.values(JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Record<string, { body: string }>)[0]!
    .body;

/** The public-good log's dsse 0.0.1 entry (logIndex 27246114), as JSON. */
const PROD_DSSE = JSON.parse(
  Buffer.from(firstEntryBody('prod_dsse_logIndex27246114.DERIVED.json'), 'base64').toString('utf8'),
) as { apiVersion: string; kind: string; spec: Record<string, unknown> };
const PROD_ENVELOPE_HASH = 'c88acf3ee4dbef6335666b159e96c802abb8e10111dfd2adc8e02cf1760b708c';

function parsed(body: unknown): ParsedEntry {
  const r = parseEntryBody(Buffer.from(JSON.stringify(body)), 7);
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  return r.entry;
}

/** The prod dsse body with its envelope hash replaced (or, `undefined`, removed). */
const withEnvelopeHash = (envelopeHash: unknown) => ({
  ...PROD_DSSE,
  spec: { ...PROD_DSSE.spec, envelopeHash },
});

describe('dsse 0.0.1 envelope hash (parseEntryBody)', () => {
  it("a real dsse 0.0.1 entry carries its envelope hash, algorithm and value as the body's", () => {
    assert.deepEqual(PROD_DSSE.spec['envelopeHash'], { algorithm: 'sha256', value: PROD_ENVELOPE_HASH });
    const entry = parsed(PROD_DSSE);
    assert.equal(entry.kind, 'dsse');
    assert.equal(entry.apiVersion, '0.0.1');
    assert.deepEqual(entry.envelopeHash, { algorithm: 'sha256', hex: PROD_ENVELOPE_HASH });
  });

  it('its hex is lowercased and its algorithm kept as written, like the payload digest', () => {
    const entry = parsed(withEnvelopeHash({ algorithm: 'SHA256', value: PROD_ENVELOPE_HASH.toUpperCase() }));
    assert.deepEqual(entry.envelopeHash, { algorithm: 'SHA256', hex: PROD_ENVELOPE_HASH });
  });

  it('without one, or with one that cannot be read, the entry parses as before, only without it', () => {
    const { envelopeHash: _, ...rest } = parsed(PROD_DSSE);
    const { envelopeHash: _dropped, ...spec } = PROD_DSSE.spec;
    for (const body of [
      { ...PROD_DSSE, spec },
      withEnvelopeHash(null),
      withEnvelopeHash('sha256:c88a'),
      withEnvelopeHash({ algorithm: 'sha256' }),
      withEnvelopeHash({ value: PROD_ENVELOPE_HASH }),
      withEnvelopeHash({ algorithm: 'sha256', value: 'not hex' }),
      withEnvelopeHash({ algorithm: 'sha256', value: '' }),
      withEnvelopeHash({ algorithm: 'sha256', value: [PROD_ENVELOPE_HASH] }),
      withEnvelopeHash({ algorithm: 1, value: PROD_ENVELOPE_HASH }),
    ]) {
      const entry = parsed(body);
      assert.equal('envelopeHash' in entry, false, JSON.stringify(body.spec['envelopeHash']));
      assert.deepEqual(entry, rest);
    }
  });

  it('other kinds carry none', () => {
    const hashedrekord = parseEntryBody(firstEntryBody('rekor-response__valid__entry.json'));
    const intoto = parseEntryBody(firstEntryBody('prod_intoto_logIndex27244980.DERIVED.json'));
    for (const r of [hashedrekord, intoto]) {
      assert.ok(r.ok);
      assert.equal(r.entry.envelopeHash, undefined, r.entry.kind);
    }
  });
});
