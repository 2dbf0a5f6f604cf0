/**
 * Fuzzing what Pub/Sub hands `signOnPush`: the CloudEvent envelope, the `gcr` message inside it, and the
 * entry that joins them. Whatever arrives, the answer is a parse or an InvalidInputError; for the entry,
 * bad input is acknowledged with exactly one ERROR line and never reaches the core (never a signature).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { InvalidInputError } from '../../../functions/errors.ts';
import { type GcrNotification, parseGcrMessage } from '../../../functions/events/gcr-message.ts';
import {
  type CloudEventLike,
  MESSAGE_PUBLISHED,
  parsePubsubCloudEvent,
} from '../../../functions/events/pubsub-cloud-event.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { createSignOnPushEntry } from '../../../functions/sign-on-push/entry.ts';
import {
  badHost,
  badPath,
  deepJsonText,
  garbageBytes,
  hostileJsonObjectText,
  hostileJsonText,
  hugeString,
  nearDigest,
  outcome,
  POISON_VALUES,
  runs,
  validDigest,
  validHost,
  validPath,
  validTag,
} from './hostile.ts';

const GCR_KEYS = ['action', 'digest', 'tag'] as const;
const ENVELOPE_KEYS = [
  'message',
  'data',
  'attributes',
  'messageId',
  'message_id',
  'publishTime',
  'subscription',
];

// ---- gcr messages -------------------------------------------------------------------------------------

const action = fc.constantFrom('INSERT', 'DELETE');

/** A well-formed notification as Artifact Registry sends it: digest-only, tag-only or both. */
const validGcr = fc
  .record({ action, host: validHost, path: validPath, digest: validDigest, tag: validTag })
  .chain(({ action, host, path, digest, tag }) =>
    fc.constantFrom(
      { action, digest: `${host}/${path}@${digest}` },
      { action, tag: `${host}/${path}:${tag}` },
      { action, digest: `${host}/${path}@${digest}`, tag: `${host}/${path}:${tag}` },
    ),
  );

/** Megabyte references: kept to a few runs in ten, since each costs milliseconds of regex work. */
function hugeGcr(): fc.Arbitrary<string> {
  return fc.oneof(
    fc
      .tuple(action, validHost, validPath, hugeString)
      .map(([a, h, p, s]) => JSON.stringify({ action: a, digest: `${h}/${p}@sha256:${s}` })),
    // A huge path that breaks the grammar at its very end (a huge valid path is valid: the schema has no cap).
    fc
      .tuple(action, validHost, hugeString, fc.constantFrom('..', '/', 'A', '-'), validDigest)
      .map(([a, h, s, tail, d]) => JSON.stringify({ action: a, digest: `${h}/${s}${tail}@${d}` })),
  );
}

/** One field of a valid message broken in a way no registry produces. Every one of these must be refused. */
const brokenGcr: fc.Arbitrary<string> = fc.oneof(
  { weight: 1, arbitrary: hugeGcr() },
  fc
    .tuple(action, validHost, validPath, nearDigest)
    .map(([a, h, p, d]) => JSON.stringify({ action: a, digest: `${h}/${p}@${d}` })),
  fc
    .tuple(action, badHost, validPath, validDigest)
    .map(([a, h, p, d]) => JSON.stringify({ action: a, digest: `${h}/${p}@${d}` })),
  fc
    .tuple(action, validHost, badPath, validDigest)
    .map(([a, h, p, d]) => JSON.stringify({ action: a, digest: `${h}/${p}@${d}` })),
  fc
    .tuple(action, validHost, badPath, validTag)
    .map(([a, h, p, t]) => JSON.stringify({ action: a, tag: `${h}/${p}:${t}` })),
  // Action outside the enum, or not a string.
  fc
    .tuple(
      fc.constantFrom('"insert"', '"UPDATE"', '""', '"INSERT "', 'null', '1', '["INSERT"]', ...POISON_VALUES),
      validHost,
      validPath,
      validDigest,
    )
    .map(([a, h, p, d]) => `{"action":${a},"digest":${JSON.stringify(`${h}/${p}@${d}`)}}`),
  // Digest and tag naming two repositories.
  fc
    .tuple(action, validHost, validPath, validPath, validDigest, validTag)
    .filter(([, , p1, p2]) => p1 !== p2)
    .map(([a, h, p1, p2, d, t]) =>
      JSON.stringify({ action: a, digest: `${h}/${p1}@${d}`, tag: `${h}/${p2}:${t}` }),
    ),
  // Neither digest nor tag.
  action.map((a) => JSON.stringify({ action: a })),
  // A reference field holding something that is not a string.
  fc
    .tuple(action, fc.constantFrom('digest', 'tag'), hostileJsonText())
    .filter(([, , v]) => typeof JSON.parse(v) !== 'string')
    .map(([a, k, v]) => `{"action":"${a}",${JSON.stringify(k)}:${v}}`),
  // Not an object at all.
  fc.constantFrom('null', '[]', '"INSERT"', '1', 'true', ''),
  deepJsonText,
);

/**
 * A valid message with one more key (`__proto__` included) holding any JSON: the key is dropped unread,
 * so the message parses as without it (a field Artifact Registry adds must not stop signing).
 */
const validGcrWithUnknownKey = fc
  .tuple(
    validGcr,
    fc.constantFrom('__proto__', 'extra', 'Digest', 'constructor', 'toString'),
    hostileJsonText(),
  )
  .map(([message, key, value]) => ({
    message,
    text: `${JSON.stringify(message).slice(0, -1)},${JSON.stringify(key)}:${value}}`,
  }));

/** Anything at all: bytes, JSON, near misses, valid messages. */
const anyGcrBytes: fc.Arbitrary<Buffer> = fc.oneof(
  garbageBytes.map((b) => Buffer.from(b)),
  hostileJsonObjectText(GCR_KEYS).map((t) => Buffer.from(t)),
  brokenGcr.map((t) => Buffer.from(t)),
  validGcr.map((m) => Buffer.from(JSON.stringify(m))),
  validGcrWithUnknownKey.map(({ text }) => Buffer.from(text)),
);

const ASCII_HOST = /^[A-Za-z0-9.-]+(?::[0-9]{1,5})?$/;

/** What a notification that got past the parser must look like. */
function assertSoundNotification(n: GcrNotification): void {
  assert.ok(n.action === 'INSERT' || n.action === 'DELETE');
  assert.match(n.host, ASCII_HOST);
  assert.ok(n.repository.split('/').every((c) => /^[a-z0-9]/.test(c) && /[a-z0-9]$/.test(c)));
  assert.ok(!n.repository.includes('..'));
  assert.ok(n.digest !== undefined || n.tag !== undefined);
  if (n.digest !== undefined) {
    assert.match(n.digest, /^sha256:[a-f0-9]{64}$/);
    assert.equal(n.raw.digest, `${n.host}/${n.repository}@${n.digest}`);
  }
  if (n.tag !== undefined) assert.equal(n.raw.tag, `${n.host}/${n.repository}:${n.tag}`);
}

describe('fuzz: gcr messages (parseGcrMessage)', () => {
  test('any bytes: a sound notification or InvalidInputError', () => {
    fc.assert(
      fc.property(anyGcrBytes, (bytes) => {
        const result = outcome(() => parseGcrMessage(bytes, 'm-1'), InvalidInputError);
        if (result.ok) assertSoundNotification(result.value);
        else assert.equal((result.error as InvalidInputError).retryable, false);
      }),
      runs(250),
    );
  });

  test('near-valid mutations (digest length/case/algorithm, hosts, `..` paths, huge strings) are refused', () => {
    fc.assert(
      fc.property(brokenGcr, (text) => {
        const result = outcome(() => parseGcrMessage(Buffer.from(text), 'm-1'), InvalidInputError);
        assert.equal(result.ok, false, `accepted ${text.slice(0, 200)}`);
      }),
      runs(150),
    );
  });

  test('a valid message with an unknown key parses to exactly the message without it', () => {
    fc.assert(
      fc.property(validGcrWithUnknownKey, ({ message, text }) => {
        const n = parseGcrMessage(Buffer.from(text), 'm-1');
        assertSoundNotification(n);
        assert.deepEqual(n.raw, message);
        assert.deepEqual(n, parseGcrMessage(Buffer.from(JSON.stringify(message)), 'm-1'));
      }),
      runs(100),
    );
  });

  test('valid messages parse to exactly their parts', () => {
    fc.assert(
      fc.property(validGcr, (message) => {
        const n = parseGcrMessage(Buffer.from(JSON.stringify(message)), 'm-1');
        assertSoundNotification(n);
        assert.deepEqual(n.raw, message);
      }),
      runs(100),
    );
  });
});

// ---- Pub/Sub CloudEvents ------------------------------------------------------------------------------

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

/** The `message.data` slot: real base64, base64 of garbage, non-base64 text, or any JSON value. */
const dataToken: fc.Arbitrary<string> = fc.oneof(
  anyGcrBytes.map((b) => JSON.stringify(b64(b))),
  fc.constantFrom('"not base64!"', '"aGVsbG8=\\n"', '"===="', '"a"', '"-_-_"', '""'),
  hostileJsonText(),
);

/** Envelope text: Pub/Sub's shape with any slot replaced by hostile JSON, or hostile JSON outright. */
const envelopeText: fc.Arbitrary<string> = fc.oneof(
  fc
    .record({
      data: fc.option(dataToken, { nil: undefined }),
      attributes: fc.option(fc.oneof(hostileJsonText(), fc.constant('{"__proto__":"x","k":"v"}')), {
        nil: undefined,
      }),
      messageId: fc.option(hostileJsonText(), { nil: undefined }),
      subscription: fc.option(hostileJsonText(), { nil: undefined }),
    })
    .map(({ data, attributes, messageId, subscription }) => {
      const message = [
        data === undefined ? '' : `"data":${data}`,
        attributes === undefined ? '' : `"attributes":${attributes}`,
        messageId === undefined ? '' : `"messageId":${messageId}`,
      ].filter((s) => s !== '');
      const sub = subscription === undefined ? '' : `,"subscription":${subscription}`;
      return `{"message":{${message.join(',')}}${sub}}`;
    }),
  hostileJsonObjectText(ENVELOPE_KEYS),
  hostileJsonText(ENVELOPE_KEYS),
  deepJsonText,
);

/** `type` as the Functions Framework passes it: absent, or the header / structured-mode string. */
const stringType = fc.option(
  fc.constantFrom(
    MESSAGE_PUBLISHED,
    'google.cloud.storage.object.v1.finalized',
    '',
    MESSAGE_PUBLISHED.toUpperCase(),
  ),
  { nil: undefined },
);

const event = (type: unknown, id: unknown, dataText: string): CloudEventLike =>
  ({
    ...(type === undefined ? {} : { type }),
    ...(id === undefined ? {} : { id }),
    data: JSON.parse(dataText),
  }) as CloudEventLike;

describe('fuzz: Pub/Sub CloudEvents (parsePubsubCloudEvent)', () => {
  test('hostile envelopes: the decoded delivery or InvalidInputError', () => {
    fc.assert(
      fc.property(stringType, fc.option(fc.string(), { nil: undefined }), envelopeText, (type, id, text) => {
        const e = event(type, id, text);
        const result = outcome(() => parsePubsubCloudEvent(e), InvalidInputError);
        if (!result.ok) return;
        assert.ok(type === undefined || type === MESSAGE_PUBLISHED, `accepted type ${type}`);
        const message = (e.data as { message: { data?: string } }).message;
        assert.ok(Buffer.isBuffer(result.value.data));
        assert.deepEqual(result.value.data, Buffer.from(message.data ?? '', 'base64'));
        for (const v of Object.values(result.value.attributes)) assert.equal(typeof v, 'string');
      }),
      runs(150),
    );
  });

  test('a CloudEvent whose type or id is any JSON value (structured mode): InvalidInputError', () => {
    fc.assert(
      fc.property(hostileJsonText(), hostileJsonText(), envelopeText, (type, id, text) => {
        outcome(
          () => parsePubsubCloudEvent(event(JSON.parse(type), JSON.parse(id), text)),
          InvalidInputError,
        );
      }),
      runs(200),
    );
  });
});

// ---- the signOnPush entry -----------------------------------------------------------------------------

function entryUnderTest() {
  const logger = createMemoryLogger();
  const calls: GcrNotification[] = [];
  const entry = createSignOnPushEntry({
    logger,
    core: {
      handle: async (n) => {
        calls.push(n);
      },
    },
  });
  return { logger, calls, entry };
}

/** Real envelopes around broken `gcr` payloads, and hostile envelopes around anything. */
const malformedEvent: fc.Arbitrary<{ type: string | undefined; id: string | undefined; text: string }> = fc
  .record({
    type: stringType.filter((t) => t === undefined || t === MESSAGE_PUBLISHED),
    id: fc.option(fc.string(), { nil: undefined }),
    text: fc.oneof(
      fc
        .tuple(
          fc.oneof(
            brokenGcr,
            garbageBytes.map((b) => Buffer.from(b).toString('latin1')),
          ),
          fc.string(),
        )
        .map(([gcr, id]) =>
          JSON.stringify({ message: { data: b64(Buffer.from(gcr, 'latin1')), messageId: id } }),
        ),
      envelopeText,
    ),
  })
  .filter(({ type, id, text }) => {
    // Keep only what really is malformed: an envelope that decodes to a valid message is not.
    try {
      parseGcrMessage(parsePubsubCloudEvent(event(type, id, text)).data);
      return false;
    } catch {
      return true;
    }
  });

describe('fuzz: the signOnPush entry (never a signature for bad input)', () => {
  test('malformed input: resolves (acknowledged), exactly one ERROR line, core never called', async () => {
    await fc.assert(
      fc.asyncProperty(malformedEvent, async ({ type, id, text }) => {
        const { entry, logger, calls } = entryUnderTest();
        await entry(event(type, id, text)); // a rejection would make Pub/Sub redeliver: fails the property
        assert.equal(calls.length, 0, 'the core was called: this input would be signed');
        assert.deepEqual(
          logger.entries.map((e) => e.severity),
          ['ERROR'],
        );
      }),
      runs(200),
    );
  });

  test('any input: the core is called once exactly when the message is valid, with that message', async () => {
    const anyEvent = fc.oneof(
      malformedEvent,
      fc.tuple(validGcr, fc.string()).map(([m, id]) => ({
        type: MESSAGE_PUBLISHED,
        id,
        text: JSON.stringify({ message: { data: b64(Buffer.from(JSON.stringify(m))), messageId: id } }),
      })),
    );
    await fc.assert(
      fc.asyncProperty(anyEvent, async ({ type, id, text }) => {
        const { entry, logger, calls } = entryUnderTest();
        await entry(event(type, id, text));
        let expected: GcrNotification | undefined;
        try {
          expected = parseGcrMessage(parsePubsubCloudEvent(event(type, id, text)).data);
        } catch {
          expected = undefined;
        }
        if (expected === undefined) {
          assert.equal(calls.length, 0);
          assert.equal(logger.entries.filter((e) => e.severity === 'ERROR').length, 1);
        } else {
          assert.equal(calls.length, 1);
          assert.deepEqual(calls[0], expected);
          assert.equal(logger.entries.filter((e) => e.severity === 'ERROR').length, 0);
        }
      }),
      runs(200),
    );
  });

  test('a CloudEvent whose type is any JSON value: acknowledged with one ERROR line, core never called', async () => {
    await fc.assert(
      fc.asyncProperty(hostileJsonText(), envelopeText, async (type, text) => {
        const { entry, logger, calls } = entryUnderTest();
        const e = event(JSON.parse(type), 'm-1', text);
        if (e.type === MESSAGE_PUBLISHED) return;
        await entry(e);
        assert.equal(calls.length, 0);
        assert.deepEqual(
          logger.entries.map((x) => x.severity),
          ['ERROR'],
        );
      }),
      runs(200),
    );
  });
});
