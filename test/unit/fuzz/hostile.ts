/**
 * Hostile input for the fuzz suite: JSON text with the keys and values that break naive parsers
 * (`__proto__`, objects that refuse string conversion, numbers past 2^53 or past a double), nesting
 * deeper than any recursive walker survives, invalid UTF-8, huge strings; and the one check every
 * property makes: an input ends in a value or in a typed error, never in another exception.
 */
import fc from 'fast-check';

/**
 * Property-run settings. A failure reports seed, path and counterexample (long runs of one character
 * compacted to `c×N`, since hostile inputs run to megabytes); FUZZ_SEED=<seed> replays that run.
 * `npm test` uses a fixed seed so that a run is repeatable; FUZZ_SEED=random explores new inputs
 * (how the resolve bug below was found), and its failures become fixed seeds' regressions.
 */
const DEFAULT_SEED = 20261125;

export function runs<T>(numRuns: number): fc.Parameters<T> {
  const env = process.env['FUZZ_SEED'];
  const seed = env === 'random' ? undefined : env === undefined ? DEFAULT_SEED : Number(env);
  return {
    numRuns,
    ...(seed === undefined ? {} : { seed }),
    reporter: (details) => {
      if (!details.failed) return;
      const message = (fc.defaultReportMessage(details) ?? 'property failed')
        .replace(/([\s\S])\1{99,}/g, (run, c: string) => `${c}×${run.length}`)
        .slice(0, 6000);
      throw new Error(message, { cause: details.errorInstance });
    },
  };
}

/** Keys that reach Object.prototype, or that JavaScript calls on its own (conversion, thenables). */
export const POISON_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'toJSON',
  'then',
  'length',
] as const;

/**
 * JSON values a parser may meet where it expects a string or a number: objects whose string conversion
 * throws (`{"toString":1}` — `${v}` and String(v) raise TypeError), prototype-pollution attempts, array-likes.
 */
export const POISON_VALUES = [
  '{"toString":1}',
  '{"toString":null,"valueOf":{}}',
  '{"__proto__":{"polluted":true}}',
  '{"length":3}',
  '{"then":1}',
  '[]',
  '{}',
  'null',
] as const;

/** Number tokens that survive as numbers only approximately or not at all. */
const NUMBER_TOKENS = [
  '0',
  '-0',
  '-1',
  '1.5',
  '1e999',
  '-1e999',
  '1e-400',
  '9007199254740992',
  '9007199254740993',
  '18446744073709551616',
  `1${'0'.repeat(400)}`,
] as const;

const anyString = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
);

/** JSON number token: a real double, an integer, or one of the awkward literals. */
export const numberToken: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...NUMBER_TOKENS),
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
);

/**
 * JSON text (not a value: the text is what arrives on the wire, so `__proto__` becomes an own key and
 * duplicate keys stay duplicate). `keys` are domain names the parser looks for, so generated documents
 * reach past the first shape check.
 */
export function hostileJsonText(keys: readonly string[] = [], maxDepth = 4): fc.Arbitrary<string> {
  const key = fc.oneof(
    { weight: 3, arbitrary: keys.length > 0 ? fc.constantFrom(...keys) : anyString },
    { weight: 1, arbitrary: fc.constantFrom(...POISON_KEYS) },
    { weight: 1, arbitrary: anyString },
  );
  const { value } = fc.letrec<{ value: string; leaf: string; array: string; object: string }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', maxDepth, withCrossShrink: true },
      tie('leaf'),
      tie('array'),
      tie('object'),
    ),
    leaf: fc.oneof(
      numberToken,
      fc.constantFrom('null', 'true', 'false', ...POISON_VALUES),
      anyString.map((s) => JSON.stringify(s)),
    ),
    array: fc.array(tie('value'), { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
    object: fc
      .array(fc.tuple(key, tie('value')), { maxLength: 5 })
      .map((pairs) => `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
  }));
  return value;
}

/** An object (the usual top-level shape) of hostile JSON text. */
export function hostileJsonObjectText(keys: readonly string[] = [], maxDepth = 4): fc.Arbitrary<string> {
  return fc
    .array(fc.tuple(fc.constantFrom(...keys, ...POISON_KEYS), hostileJsonText(keys, maxDepth)), {
      maxLength: 6,
    })
    .map((pairs) => `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`);
}

/** Nesting far past any call stack: `[[[…]]]` or `{"a":{"a":…}}`, as text. */
export const deepJsonText: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(12_000, 30_000), fc.constantFrom('array', 'object'))
  .map(([depth, kind]) =>
    kind === 'array'
      ? '['.repeat(depth) + ']'.repeat(depth)
      : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth),
  );

/** A string of n characters (n up to a MiB): regex and copy costs must stay linear. */
export const hugeString: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(70_000, 300_000, 1_100_000), fc.constantFrom('a', '0', '/', '\u00e9', 'a.'))
  .map(([n, unit]) => unit.repeat(Math.ceil(n / unit.length)));

/** Bytes that are not UTF-8, not JSON, or both. */
export const garbageBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 512 }),
  fc.constantFrom(
    Uint8Array.from([0xff, 0xfe, 0x7b, 0x7d]), // UTF-16 BOM before {}
    Uint8Array.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]), // UTF-8 BOM before {}
    Uint8Array.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]), // {"\xc3(":1}
    new Uint8Array(0),
  ),
);

const hex = (length: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });

export const sha256Hex: fc.Arbitrary<string> = hex(64);
export const validDigest: fc.Arbitrary<string> = sha256Hex.map((h) => `sha256:${h}`);

/** Digests one step away from valid: wrong length, case, algorithm, separator, padding. Never valid. */
export const nearDigest: fc.Arbitrary<string> = fc.oneof(
  fc.oneof(hex(63), hex(65), hex(0), hex(128), hex(32)).map((h) => `sha256:${h}`),
  sha256Hex.filter((h) => /[a-f]/.test(h)).map((h) => `sha256:${h.toUpperCase()}`),
  fc
    .tuple(fc.constantFrom('sha512', 'sha384', 'SHA256', 'sha-256', 'md5', '', 'sha256 '), hex(64))
    .map(([alg, h]) => `${alg}:${h}`),
  fc.tuple(fc.constantFrom('sha256-', 'sha256', 'sha256::', ' sha256:'), hex(64)).map(([p, h]) => p + h),
  fc
    .tuple(hex(64), fc.constantFrom('\n', ' ', '\u0000', '\u200b', 'g', '=='))
    .map(([h, tail]) => `sha256:${h}${tail}`),
  hex(64).map((h) => `sha256:${h.slice(0, 10)}\u0430${h.slice(11)}`), // Cyrillic a
);

/** Registry hosts as a valid notification may carry them. */
export const validHost: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('us-docker.pkg.dev', 'europe-west1-docker.pkg.dev', 'gcr.io', 'localhost'),
  fc
    .tuple(
      fc.constantFrom('localhost', '127.0.0.1', 'registry.example.com'),
      fc.integer({ min: 1, max: 65535 }),
    )
    .map(([h, p]) => `${h}:${p}`),
);

/** Hosts that must never pass: unicode look-alikes, userinfo, paths, empty, over-long ports. */
export const badHost: fc.Arbitrary<string> = fc.constantFrom(
  'b\u00fccher.example',
  '\uff45xample.com', // fullwidth e
  'evil.com\u2044good.com',
  'user@us-docker.pkg.dev',
  'us-docker.pkg.dev:123456',
  'us-docker.pkg.dev:',
  ':5000',
  '',
  '-us-docker.pkg.dev',
  'us docker.pkg.dev',
  'us-docker.pkg.dev\u0000',
  '[::1]:5000:1',
);

const component = fc.stringMatching(/^[a-z0-9]{1,8}(?:[._-][a-z0-9]{1,8}){0,2}$/);
export const validPath: fc.Arbitrary<string> = fc
  .array(component, { minLength: 1, maxLength: 4 })
  .map((parts) => parts.join('/'));

/** Repository paths a registry would never accept: traversal, empty segments, upper case, encodings. */
export const badPath: fc.Arbitrary<string> = fc.oneof(
  validPath.chain((p) =>
    fc.constantFrom(
      `../${p}`,
      `${p}/..`,
      `${p}/../../etc`,
      `./${p}`,
      `${p}//x`,
      `/${p}`,
      `${p}/`,
      `${p}/%2e%2e`,
      `${p}/A`,
      `${p}/\u0000`,
      `${p}/\u00e9`,
      `${p}..x`,
      `${p}/.x`,
    ),
  ),
  fc.constantFrom('..', '.', '', '/'),
);

export const validTag: fc.Arbitrary<string> = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/);

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: Error };
// biome-ignore lint/suspicious/noExplicitAny: error classes take any constructor arguments
type ErrorClass = abstract new (...args: any[]) => Error;

/** The one thing no input may cause: an exception that is none of the module's typed errors. */
function untyped(err: unknown, typed: readonly ErrorClass[]): Error {
  const name = err instanceof Error ? err.constructor.name : typeof err;
  const message = err instanceof Error ? err.message : String(err);
  return new Error(
    `untyped ${name} (want ${typed.map((c) => c.name).join(' | ')}): ${message.slice(0, 300)}`,
    { cause: err },
  );
}

/** Runs a parser: its value, or one of the `typed` errors; any other exception fails the property. */
export function outcome<T>(run: () => T, ...typed: ErrorClass[]): Outcome<T> {
  try {
    return { ok: true, value: run() };
  } catch (err) {
    if (typed.some((c) => err instanceof c)) return { ok: false, error: err as Error };
    throw untyped(err, typed);
  }
}

export async function outcomeAsync<T>(run: () => Promise<T>, ...typed: ErrorClass[]): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (err) {
    if (typed.some((c) => err instanceof c)) return { ok: false, error: err as Error };
    throw untyped(err, typed);
  }
}
