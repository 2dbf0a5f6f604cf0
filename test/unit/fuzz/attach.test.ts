/**
 * Fuzzing what cosign signatures carry in the registry: the simple-signing payload (parseSimpleSigningPayload)
 * and the `dev.sigstore.cosign/bundle` annotation (parseRekorBundle), starting from a real pair cosign wrote.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  parseRekorBundle,
  rekorBundleSchema,
  serializeRekorBundle,
} from '../../../functions/attach/rekor-bundle.ts';
import {
  buildSimpleSigningPayload,
  COSIGN_SIGNATURE_TYPE,
  parseSimpleSigningPayload,
} from '../../../functions/attach/simple-signing.ts';
import { InvalidInputError, PolicyViolationError } from '../../../functions/errors.ts';
import { isDigest } from '../../../functions/registry/digest.ts';
import {
  deepJsonText,
  garbageBytes,
  hostileJsonObjectText,
  hostileJsonText,
  hugeString,
  nearDigest,
  numberToken,
  outcome,
  POISON_VALUES,
  runs,
  validDigest,
  validHost,
  validPath,
} from './hostile.ts';

const REAL = JSON.parse(
  readFileSync(join(import.meta.dirname, 'fixtures/cosign-salrashid123.json'), 'utf8'),
) as {
  imageDigest: string;
  payload: string;
  bundleAnnotation: string;
};

// ---- simple-signing payloads ----------------------------------------------------------------------------

const PAYLOAD_KEYS = [
  'critical',
  'identity',
  'docker-reference',
  'image',
  'docker-manifest-digest',
  'type',
  'optional',
];

/** The payload's shape with each slot filled by something valid, near-valid or hostile. */
const payloadText: fc.Arbitrary<string> = fc
  .record({
    reference: fc.oneof(
      fc.tuple(validHost, validPath).map(([h, p]) => JSON.stringify(`${h}/${p}`)),
      hostileJsonText(),
    ),
    digestKey: fc.constantFrom(
      'docker-manifest-digest',
      'Docker-manifest-digest',
      'DOCKER-MANIFEST-DIGEST',
      'both',
      'manifest-digest',
    ),
    digest: fc.oneof(
      validDigest.map((d) => JSON.stringify(d)),
      nearDigest.map((d) => JSON.stringify(d)),
      hostileJsonText(),
    ),
    type: fc.oneof(
      fc.constant(JSON.stringify(COSIGN_SIGNATURE_TYPE)),
      fc.constantFrom('"cosign container image signature "', '"atomic container signature"', '""', 'null'),
      hostileJsonText(),
    ),
    optional: fc.oneof(
      fc.constantFrom('null', '{}', '{"tag":"v1"}', '[]', '"x"', '1', ...POISON_VALUES),
      hostileJsonText(),
    ),
    extra: fc.constantFrom('', ',"__proto__":{"critical":{}}', ',"critical":null'),
  })
  .map(({ reference, digestKey, digest, type, optional, extra }) => {
    const image =
      digestKey === 'both'
        ? `{"docker-manifest-digest":${digest},"Docker-manifest-digest":${digest}}`
        : `{${JSON.stringify(digestKey)}:${digest}}`;
    return `{"critical":{"identity":{"docker-reference":${reference}},"image":${image},"type":${type}},"optional":${optional}${extra}}`;
  });

const payloadBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 6, arbitrary: payloadText.map((t) => Buffer.from(t)) },
  { weight: 2, arbitrary: hostileJsonObjectText(PAYLOAD_KEYS).map((t) => Buffer.from(t)) },
  { weight: 1, arbitrary: garbageBytes },
  { weight: 1, arbitrary: deepJsonText.map((t) => Buffer.from(t)) },
  { weight: 1, arbitrary: hugeString.map((s) => Buffer.from(`{"critical":${JSON.stringify(s)}}`)) },
);

describe('fuzz: cosign simple-signing payloads (parseSimpleSigningPayload)', () => {
  test('the real cosign payload parses (the anchor)', () => {
    const p = parseSimpleSigningPayload(Buffer.from(REAL.payload), REAL.imageDigest);
    assert.equal(p.manifestDigest, REAL.imageDigest);
  });

  test('any bytes, with or without an expected digest: a sound payload or a typed error', () => {
    fc.assert(
      fc.property(payloadBytes, fc.option(validDigest, { nil: undefined }), (bytes, expected) => {
        const r = outcome(
          () => parseSimpleSigningPayload(bytes, expected),
          InvalidInputError,
          PolicyViolationError,
        );
        if (!r.ok) {
          if (r.error instanceof PolicyViolationError) assert.notEqual(expected, undefined);
          return;
        }
        assert.ok(isDigest(r.value.manifestDigest), r.value.manifestDigest);
        if (expected !== undefined) assert.equal(r.value.manifestDigest, expected);
        assert.equal(typeof r.value.dockerReference, 'string');
        assert.ok(
          r.value.optional === null ||
            (typeof r.value.optional === 'object' && !Array.isArray(r.value.optional)),
        );
        assert.ok(bytes.byteLength <= 256 * 1024);
      }),
      runs(200),
    );
  });

  test('what sigsentry builds, it parses back to the same image', () => {
    fc.assert(
      fc.property(
        validHost,
        validPath,
        validDigest,
        fc.dictionary(fc.string(), fc.string()),
        (host, path, digest, optional) => {
          const host1 = host.toLowerCase();
          const p = parseSimpleSigningPayload(
            buildSimpleSigningPayload({ host: host1, repository: path, digest }, optional),
            digest,
          );
          assert.equal(p.dockerReference, `${host1}/${path}`);
          assert.equal(p.manifestDigest, digest);
        },
      ),
      runs(100),
    );
  });

  test('the real payload with its digest replaced by a near-valid one is refused', () => {
    fc.assert(
      fc.property(nearDigest, (near) => {
        const text = REAL.payload.replace(REAL.imageDigest, near);
        const r = outcome(() => parseSimpleSigningPayload(Buffer.from(text)), InvalidInputError);
        assert.equal(r.ok, false, `accepted ${near}`);
      }),
      runs(100),
    );
  });
});

// ---- cosign bundle annotations ------------------------------------------------------------------------

const BUNDLE_KEYS = ['SignedEntryTimestamp', 'Payload', 'body', 'integratedTime', 'logIndex', 'logID'];
const realBundle = JSON.parse(REAL.bundleAnnotation) as {
  SignedEntryTimestamp: string;
  Payload: Record<string, unknown>;
};

/** The real annotation with one field replaced by a near miss or by hostile JSON. */
const mutatedBundle: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom('SignedEntryTimestamp', 'body', 'integratedTime', 'logIndex', 'logID'),
    fc.oneof(
      fc.constantFrom(
        '""',
        '"!!!"',
        '"AAAA===="',
        '-1',
        '1.5',
        '"1"',
        'null',
        '1e999',
        '9007199254740993',
        ...POISON_VALUES,
      ),
      fc.constant(JSON.stringify(String(realBundle.Payload['logID']).toUpperCase())),
      fc.constant(JSON.stringify(`${String(realBundle.Payload['logID'])}0`)),
      numberToken,
      hostileJsonText(),
    ),
  )
  .map(([field, value]) => {
    const marker = '\u0000M\u0000';
    const copy = structuredClone(realBundle);
    if (field === 'SignedEntryTimestamp') copy.SignedEntryTimestamp = marker;
    else copy.Payload[field] = marker;
    return JSON.stringify(copy).replace(JSON.stringify(marker), value);
  });

const annotation: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: mutatedBundle },
  { weight: 2, arbitrary: hostileJsonObjectText(BUNDLE_KEYS) },
  { weight: 1, arbitrary: fc.string() },
  { weight: 1, arbitrary: deepJsonText },
  { weight: 1, arbitrary: hugeString.map((s) => `{"SignedEntryTimestamp":"${s}"}`) },
);

describe('fuzz: cosign bundle annotations (parseRekorBundle)', () => {
  test('the real annotation parses and serialises back to the same text (the anchor)', () => {
    const b = parseRekorBundle(REAL.bundleAnnotation);
    assert.ok(b);
    assert.equal(serializeRekorBundle(b), REAL.bundleAnnotation);
  });

  test('any annotation text: never throws; a bundle that satisfies the schema, or undefined', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(annotation, (text) => {
        const r = outcome(() => parseRekorBundle(text));
        assert.ok(r.ok);
        seen.add(r.value === undefined ? 'refused' : 'parsed');
        if (r.value === undefined) return;
        assert.ok(rekorBundleSchema.safeParse(r.value).success);
        assert.ok(Number.isSafeInteger(r.value.Payload.logIndex) && r.value.Payload.logIndex >= 0);
        // Numerically the same after a round trip (a `-0` index reads back as 0).
        const again = parseRekorBundle(serializeRekorBundle(r.value));
        assert.ok(again?.Payload.logIndex === r.value.Payload.logIndex);
      }),
      runs(250),
    );
    if (process.env['FUZZ_SEED'] === undefined) assert.deepEqual([...seen].sort(), ['parsed', 'refused']);
  });

  test('a near-valid field (negative, fractional, unsafe index; upper-case or long log ID; bad base64) is refused', () => {
    const nearMiss = fc.constantFrom<[string, string]>(
      ['logIndex', '-1'],
      ['logIndex', '1.5'],
      ['logIndex', '9007199254740993'],
      ['logIndex', '"1"'],
      ['integratedTime', '-1'],
      ['integratedTime', '1e999'],
      ['logID', JSON.stringify(String(realBundle.Payload['logID']).toUpperCase())],
      ['logID', JSON.stringify(`${String(realBundle.Payload['logID'])}0`)],
      ['body', '"!!!"'],
      ['body', '""'],
      ['SignedEntryTimestamp', '""'],
    );
    fc.assert(
      fc.property(nearMiss, ([field, value]) => {
        const marker = '\u0000M\u0000';
        const copy = structuredClone(realBundle);
        if (field === 'SignedEntryTimestamp') copy.SignedEntryTimestamp = marker;
        else copy.Payload[field] = marker;
        const text = JSON.stringify(copy).replace(JSON.stringify(marker), value);
        assert.equal(parseRekorBundle(text), undefined, `accepted ${field}=${value}`);
      }),
      runs(50),
    );
  });
});
