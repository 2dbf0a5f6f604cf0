/**
 * The content annotations of a bundle referrer are read out of the bundle being attached (its JSON and
 * its DSSE in-toto statement). A bundle or statement of another shape (null, an array, a field of
 * another type, a `__proto__` key, a predicateType too long to copy into the fallback index) is a
 * typed error before anything is written: an InvalidInputError, or a PolicyViolationError when the
 * statement names another image. Never a TypeError, which isRetryable takes for a passing failure
 * (signOnPush would have the push redelivered without end), and never a write to a prototype.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InProcessSubjectLock } from '../../../functions/attach/lock.ts';
import {
  ANNOTATION_BUNDLE_CONTENT,
  ANNOTATION_PREDICATE_TYPE,
  attachBundleReferrer,
  MAX_PREDICATE_TYPE_LENGTH,
  SIGSTORE_BUNDLE_V03,
} from '../../../functions/attach/referrer.ts';
import { InvalidInputError, isRetryable, PolicyViolationError } from '../../../functions/errors.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import type { DigestReference } from '../../../functions/registry/reference.ts';
import type { Registry } from '../../../functions/registry/registry.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';

const IN_TOTO = 'application/vnd.in-toto+json';
const image: DigestReference = {
  host: 'registry.example',
  repository: 'team/app',
  digest: `sha256:${'ab'.repeat(32)}`,
};
const hex = image.digest.slice('sha256:'.length);

/** A registry any call to which is recorded and refused: a refused bundle reaches none. */
function untouchable(): { registry: Registry; calls: string[] } {
  const calls: string[] = [];
  const registry = new Proxy({} as Registry, {
    get: (_target, property) => () => {
      calls.push(String(property));
      throw new Error(`registry.${String(property)} called`);
    },
  });
  return { registry, calls };
}

const bundleText = (bundle: unknown) =>
  Buffer.from(typeof bundle === 'string' ? bundle : JSON.stringify(bundle));

/** A bundle whose DSSE envelope carries `statement` (JSON text, or a value to serialise) as in-toto. */
function dsseBundle(statement: unknown): Buffer {
  const text = typeof statement === 'string' ? statement : JSON.stringify(statement);
  return bundleText({
    mediaType: SIGSTORE_BUNDLE_V03,
    dsseEnvelope: { payload: Buffer.from(text).toString('base64'), payloadType: IN_TOTO, signatures: [] },
  });
}

const naming = {
  _type: 'https://in-toto.io/Statement/v1',
  subject: [{ name: 'x', digest: { sha256: hex } }],
};

const hostile: Array<[string, Buffer, new (...args: never[]) => Error]> = [
  ['the bundle is null', bundleText('null'), InvalidInputError],
  ['the bundle is a number', bundleText('7'), InvalidInputError],
  ['the bundle is an array', bundleText([SIGSTORE_BUNDLE_V03]), InvalidInputError],
  [
    'the media type sits under __proto__',
    bundleText(`{"__proto__":{"mediaType":"${SIGSTORE_BUNDLE_V03}","messageSignature":{}}}`),
    InvalidInputError,
  ],
  [
    'the DSSE envelope is null',
    bundleText({ mediaType: SIGSTORE_BUNDLE_V03, dsseEnvelope: null }),
    InvalidInputError,
  ],
  [
    'the DSSE envelope is a string',
    bundleText({ mediaType: SIGSTORE_BUNDLE_V03, dsseEnvelope: 'x' }),
    InvalidInputError,
  ],
  [
    'the DSSE payload is a number',
    bundleText({ mediaType: SIGSTORE_BUNDLE_V03, dsseEnvelope: { payload: 7, payloadType: IN_TOTO } }),
    InvalidInputError,
  ],
  [
    'the message signature is null',
    bundleText({ mediaType: SIGSTORE_BUNDLE_V03, messageSignature: null }),
    InvalidInputError,
  ],
  [
    'the message signature is a string',
    bundleText({ mediaType: SIGSTORE_BUNDLE_V03, messageSignature: 'signed' }),
    InvalidInputError,
  ],
  ['the statement is null', dsseBundle('null'), InvalidInputError],
  ['the statement is an array', dsseBundle([naming]), InvalidInputError],
  ['a subject is null', dsseBundle({ ...naming, subject: [null, ...naming.subject] }), InvalidInputError],
  ['a subject digest is null', dsseBundle({ ...naming, subject: [{ digest: null }] }), InvalidInputError],
  [
    'a subject digest is a number',
    dsseBundle({ ...naming, subject: [{ digest: { sha256: 7 } }] }),
    InvalidInputError,
  ],
  ['the predicate type is a number', dsseBundle({ ...naming, predicateType: 7 }), InvalidInputError],
  [
    'the predicate type is longer than an annotation may be',
    dsseBundle({ ...naming, predicateType: `https://${'p'.repeat(2 * 1024 * 1024)}` }),
    InvalidInputError,
  ],
  [
    'the subjects sit under __proto__',
    dsseBundle(`{"__proto__":${JSON.stringify(naming)}}`),
    InvalidInputError,
  ],
  [
    "the image's digest sits under a digest's __proto__",
    dsseBundle(`{"subject":[{"digest":{"__proto__":{"sha256":"${hex}"}}}]}`),
    PolicyViolationError,
  ],
];

describe('a bundle of another shape is refused with a typed error before anything is written', () => {
  for (const [what, bytes, refusal] of hostile) {
    test(what, async () => {
      const { registry, calls } = untouchable();
      await assert.rejects(
        attachBundleReferrer({ registry, lock: new InProcessSubjectLock() }, image, bytes),
        (err: unknown) => {
          assert.ok(err instanceof refusal, `${refusal.name} expected, got ${String(err)}`);
          assert.equal(isRetryable(err), false);
          assert.equal((err as InvalidInputError).details['digest'], image.digest);
          return true;
        },
      );
      assert.deepEqual(calls, []);
      const probe: Record<string, unknown> = {};
      for (const key of ['mediaType', 'messageSignature', 'subject', 'sha256', 'predicateType']) {
        assert.equal(probe[key], undefined, `Object.prototype gained ${key}`);
      }
    });
  }
});

describe('a well-formed bundle is still annotated as cosign annotates it', () => {
  let reg: TestRegistry;
  let client: RegistryClient;
  before(async () => {
    reg = await startRegistry();
    client = new RegistryClient({ allowedHosts: [reg.host] });
  });
  after(() => reg.stop());

  test('a predicate type at the bound, beside a __proto__ key, is the annotation; no prototype changes', async () => {
    const pushed = await reg.pushImage('team/annotated', 'v1');
    const target: DigestReference = { host: reg.host, repository: 'team/annotated', digest: pushed.digest };
    const predicateType = `https://${'p'.repeat(MAX_PREDICATE_TYPE_LENGTH - 'https://'.length)}`;
    const statement =
      `{"__proto__":{"polluted":true},"_type":"https://in-toto.io/Statement/v1","predicateType":"${predicateType}",` +
      `"subject":[{"name":"x","digest":{"sha256":"${target.digest.slice(7)}"}}],"predicate":{}}`;
    const result = await attachBundleReferrer(
      { registry: client, lock: new InProcessSubjectLock() },
      target,
      dsseBundle(statement),
    );
    assert.equal(result.attached, true);
    assert.equal(result.manifest.annotations?.[ANNOTATION_BUNDLE_CONTENT], 'dsse-envelope');
    assert.equal(result.manifest.annotations?.[ANNOTATION_PREDICATE_TYPE], predicateType);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });
});
