/**
 * Fuzzing the Rekor v1 client's response handling: a local HTTP server answers every request with what the
 * current case says — failing statuses, garbage, JSON of the wrong shape, and well-typed forgeries (some even
 * signed with the log's own key, as a compromised log would). Each call ends in a verified value or a typed
 * error: LogIntegrityError (the log lies), LogHttpError (4xx), DependencyError (5xx, network).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { DependencyError, InvalidInputError } from '../../../functions/errors.ts';
import {
  rekorV1NoteSigner,
  signNote,
  type VerifiedCheckpoint,
} from '../../../functions/tlog/checkpoint/index.ts';
import { LogHttpError, LogIntegrityError, RekorV1Client } from '../../../functions/tlog/client/index.ts';
import { canonicalJson } from '../../../functions/tlog/entries/index.ts';
import {
  deepJsonText,
  garbageBytes,
  hostileJsonText,
  outcome,
  outcomeAsync,
  runs,
  sha256Hex,
} from './hostile.ts';

const logKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ORIGIN_HOST = 'rekor.fuzz.local';

interface Reply {
  status: number;
  body: string | Uint8Array;
  headers?: Record<string, string>;
}

let reply: () => Reply = () => ({ status: 500, body: '' });
let server: Server;
let client: RekorV1Client;
let logIdHex: string;

before(async () => {
  server = createServer((req, res) => {
    req.resume();
    const r = reply();
    res.writeHead(r.status, { 'content-type': 'application/json', ...r.headers });
    res.end(r.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  client = new RekorV1Client({
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    logKey: logKey.publicKey,
    retries: 0,
    timeoutMs: 10_000,
    concurrency: 2,
  });
  logIdHex = client.logId.toString('hex');
});

after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

// ---- the calls --------------------------------------------------------------------------------------------

const CALLS = [
  'getCheckpoint',
  'getEntryByIndex',
  'getEntryByUuid',
  'getEntries',
  'append',
  'verifyConsistency',
] as const;
type Call = (typeof CALLS)[number];

const cp = (size: number, rootHash: Buffer): VerifiedCheckpoint => ({
  origin: `${ORIGIN_HOST} - 1`,
  size,
  rootHash,
  extensions: [],
  note: '',
});

function invoke(call: Call, n: number): Promise<unknown> {
  switch (call) {
    case 'getCheckpoint':
      return client.getCheckpoint();
    case 'getEntryByIndex':
      return client.getEntryByIndex(n);
    case 'getEntryByUuid':
      return client.getEntryByUuid(`uuid-${n}`);
    case 'getEntries':
      return client.getEntries(n, n + 1 + (n % 12));
    case 'append':
      return client.append({ kind: 'hashedrekord', apiVersion: '0.0.1', spec: {} });
    case 'verifyConsistency':
      return client.verifyConsistency(cp(1 + n, Buffer.alloc(32, 1)), cp(2 + 2 * n, Buffer.alloc(32, 2)));
  }
}

const TYPED = [LogIntegrityError, LogHttpError, DependencyError];

// ---- well-typed forgeries: the documented shapes, with values a lying log might send ----------------

const hex = (bytes: Buffer) => bytes.toString('hex');
const b64 = fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b).toString('base64'));

/** A checkpoint note: signed by the log key over any size and root, or text that is not one. */
const noteFor = (size: number, root: string): fc.Arbitrary<string> =>
  fc.oneof(
    {
      weight: 3,
      arbitrary: fc.constant(
        signNote(
          `${ORIGIN_HOST} - 1\n${size}\n${Buffer.from(root, 'hex').toString('base64')}\n`,
          rekorV1NoteSigner(ORIGIN_HOST, logKey.privateKey),
        ),
      ),
    },
    fc.string(),
    fc.constant(`${ORIGIN_HOST} - 1\n${size}\n${'A'.repeat(43)}=\n\n\u2014 ${ORIGIN_HOST} AAAAAAAA\n`),
  );

/** One Rekor v1 entry: log ID right or wrong, SET valid (signed by the log) or not, proof of any fit. */
const forgedEntry: fc.Arbitrary<Record<string, unknown>> = fc
  .record({
    body: fc.oneof(b64, fc.constant(Buffer.from('{"kind":"hashedrekord"}').toString('base64'))),
    integratedTime: fc.nat(),
    logIndex: fc.oneof(fc.nat({ max: 30 }), fc.maxSafeNat()),
    logID: fc.oneof({ weight: 3, arbitrary: fc.constant('LOG') }, sha256Hex),
    setValid: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, fc.constant(false)),
    treeSize: fc.nat({ max: 40 }),
    proofIndex: fc.nat({ max: 40 }),
    rootHash: sha256Hex,
    hashes: fc.array(fc.oneof(sha256Hex, fc.string()), { maxLength: 8 }),
    hasProof: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, fc.constant(false)),
  })
  .chain((e) =>
    noteFor(e.treeSize, e.rootHash).map((checkpoint) => {
      const logID = e.logID === 'LOG' ? logIdHex : e.logID;
      const payload = canonicalJson({
        body: e.body,
        integratedTime: e.integratedTime,
        logID,
        logIndex: e.logIndex,
      });
      const set = e.setValid
        ? sign('sha256', Buffer.from(payload), logKey.privateKey).toString('base64')
        : Buffer.from('not a signature').toString('base64');
      return {
        body: e.body,
        integratedTime: e.integratedTime,
        logID,
        logIndex: e.logIndex,
        verification: {
          signedEntryTimestamp: set,
          ...(e.hasProof
            ? {
                inclusionProof: {
                  checkpoint,
                  hashes: e.hashes,
                  logIndex: e.proofIndex,
                  rootHash: e.rootHash,
                  treeSize: e.treeSize,
                },
              }
            : {}),
        },
      };
    }),
  );

const forgedEntries = fc.oneof(
  { weight: 4, arbitrary: forgedEntry.map((e) => [e]) },
  { weight: 1, arbitrary: fc.array(forgedEntry, { maxLength: 3 }) },
);

/** A response body for `call` in the shape that call expects. */
function forgedBody(call: Call): fc.Arbitrary<string> {
  switch (call) {
    case 'getCheckpoint':
      return fc
        .record({ treeSize: fc.nat({ max: 40 }), rootHash: sha256Hex, agree: fc.boolean() })
        .chain(({ treeSize, rootHash, agree }) =>
          noteFor(treeSize, rootHash).map((note) =>
            JSON.stringify({
              rootHash: agree ? rootHash : hex(Buffer.alloc(32)),
              treeSize,
              signedTreeHead: note,
            }),
          ),
        );
    case 'getEntries':
      return forgedEntries.chain((list) =>
        fc
          .array(fc.string({ maxLength: 8 }), { minLength: list.length, maxLength: list.length })
          .map((ids) => JSON.stringify(list.map((e, i) => ({ [`u${ids[i]}`]: e })))),
      );
    case 'verifyConsistency':
      return fc
        .array(fc.oneof(sha256Hex, fc.string()), { maxLength: 10 })
        .map((hashes) => JSON.stringify({ hashes }));
    default:
      return forgedEntries.map((list) =>
        JSON.stringify(Object.fromEntries(list.map((e, i) => [`uuid-${i}`, e]))),
      );
  }
}

describe('fuzz: Rekor v1 client response handling (RekorV1Client over HTTP)', () => {
  test('failing statuses: 4xx is LogHttpError, 5xx and 429 are a retryable DependencyError', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...CALLS),
        fc.nat({ max: 20 }),
        fc.constantFrom(400, 401, 404, 409, 410, 413, 422, 429, 500, 502, 503, 504),
        fc.oneof(
          fc.string(),
          garbageBytes.map((b) => Buffer.from(b).toString('latin1')),
        ),
        async (call, n, status, text) => {
          reply = () => ({ status, body: text });
          const r = await outcomeAsync(() => invoke(call, n), ...TYPED);
          assert.equal(r.ok, false);
          if (r.ok) return;
          if (status >= 500 || status === 429) {
            assert.ok(r.error instanceof DependencyError && r.error.retryable);
          } else assert.ok(r.error instanceof LogHttpError && r.error.status === status, r.error.message);
        },
      ),
      runs(100),
    );
  });

  test('well-typed forgeries (some signed with the log key): a typed error, every check reached', async () => {
    const reasons = new Set<string>();
    await fc.assert(
      fc.asyncProperty(
        fc
          .constantFrom(...CALLS)
          .chain((call) => fc.tuple(fc.constant(call), fc.nat({ max: 20 }), forgedBody(call))),
        async ([call, n, body]) => {
          reply = () => ({ status: 200, body });
          const r = await outcomeAsync(() => invoke(call, n), ...TYPED);
          if (r.ok) {
            // Only a checkpoint really signed by the log key, agreeing with the log info, is a valid answer.
            assert.equal(call, 'getCheckpoint', `${call} accepted a forgery`);
            reasons.add(`${call}:ok`);
            return;
          }
          assert.ok(r.error instanceof LogIntegrityError, `${r.error.constructor.name}: ${r.error.message}`);
          reasons.add((r.error as LogIntegrityError).reason);
        },
      ),
      runs(250),
    );
    if (process.env['FUZZ_SEED'] === undefined) {
      for (const reason of [
        'wrong-log',
        'bad-set',
        'no-proof',
        'bad-checkpoint',
        'bad-inclusion-proof',
        'inconsistent',
      ]) {
        assert.ok(reasons.has(reason), `never reached ${reason}: ${[...reasons].join(', ')}`);
      }
    }
  });

  test('bodies that are not JSON: a typed error', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...CALLS),
        fc.nat({ max: 20 }),
        garbageBytes.filter((b) => {
          try {
            JSON.parse(Buffer.from(b).toString('utf8'));
            return false;
          } catch {
            return true;
          }
        }),
        async (call, n, body) => {
          reply = () => ({ status: 200, body });
          await outcomeAsync(() => invoke(call, n), ...TYPED);
        },
      ),
      runs(60),
    );
  });

  test('JSON of the wrong shape: a typed error', async () => {
    const shape = fc.oneof(
      hostileJsonText(['rootHash', 'treeSize', 'signedTreeHead', 'hashes', 'body', 'logID', 'verification']),
      hostileJsonText().map(
        (v) => `{"uuid-0":{"logID":"LOG","logIndex":0,"verification":{"signedEntryTimestamp":${v}}}}`,
      ),
      fc.constantFrom('{}', 'null', '[]', '[1]', '{"hashes":null}', '{"signedTreeHead":5}'),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...CALLS), fc.constant(0), shape, async (call, n, body) => {
        reply = () => ({ status: 200, body: body.replace('"LOG"', JSON.stringify(logIdHex)) });
        await outcomeAsync(() => invoke(call, n), ...TYPED);
      }),
      runs(200),
    );
  });

  test('an entry nested deeper than the stack, with the right log ID: a typed error', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('append', 'getEntryByUuid' as const),
        deepJsonText,
        async (call, deep) => {
          const entry = `{"body":${deep},"integratedTime":1,"logID":${JSON.stringify(logIdHex)},"logIndex":0,"verification":{"signedEntryTimestamp":"AAAA"}}`;
          reply = () => ({ status: 200, body: `{"uuid-0":${entry}}` });
          await outcomeAsync(() => invoke(call, 0), ...TYPED);
        },
      ),
      runs(8),
    );
  });

  test('canonicalJson past its depth bound: InvalidInputError, not a RangeError', async () => {
    await fc.assert(
      fc.property(deepJsonText, (deep) => {
        const r = outcome(() => canonicalJson(JSON.parse(deep)), InvalidInputError);
        assert.equal(r.ok, false);
      }),
      runs(4),
    );
  });
});
