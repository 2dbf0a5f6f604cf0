import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { parseRekorBundle, serializeRekorBundle } from '../../../functions/attach/rekor-bundle.ts';
import {
  buildSimpleSigningPayload,
  parseSimpleSigningPayload,
} from '../../../functions/attach/simple-signing.ts';
import { InvalidInputError, PolicyViolationError } from '../../../functions/errors.ts';

const fixtures = new URL('./fixtures/', import.meta.url);
const COSIGN_DIGEST = 'sha256:c05263d2ff654c3a94243662440913f045075d59c436e2c69e9145ec2b87a321';

test('the payload is byte-identical to the one cosign wrote for the same image', async () => {
  const cosign = await readFile(new URL('cosign-simplesigning-payload.RECONSTRUCTED.txt', fixtures));
  const ours = buildSimpleSigningPayload({
    host: 'index.docker.io',
    repository: 'salrashid123/server_image',
    digest: COSIGN_DIGEST,
  });
  assert.deepEqual(Buffer.from(ours), cosign);
  assert.deepEqual(parseSimpleSigningPayload(cosign, COSIGN_DIGEST), {
    dockerReference: 'index.docker.io/salrashid123/server_image',
    manifestDigest: COSIGN_DIGEST,
    optional: null,
  });
});

test('optional claims round-trip', () => {
  const digest = `sha256:${'0f'.repeat(32)}`;
  const bytes = buildSimpleSigningPayload(
    { host: '127.0.0.1:5000', repository: 'team/app', digest },
    { tag: 'v1', pushed: '2026-01-01T00:00:00Z' },
  );
  assert.deepEqual(parseSimpleSigningPayload(bytes).optional, { tag: 'v1', pushed: '2026-01-01T00:00:00Z' });
});

test('a payload for another image is a policy violation', async () => {
  const cosign = await readFile(new URL('cosign-simplesigning-payload.RECONSTRUCTED.txt', fixtures));
  assert.throws(() => parseSimpleSigningPayload(cosign, `sha256:${'00'.repeat(32)}`), PolicyViolationError);
});

test("the spec example's Docker-manifest-digest spelling is read, but never two spellings at once", () => {
  const digest = `sha256:${'0f'.repeat(32)}`;
  const payload = (image: Record<string, string>) =>
    Buffer.from(
      JSON.stringify({
        critical: {
          identity: { 'docker-reference': 'h/r' },
          image,
          type: 'cosign container image signature',
        },
      }),
    );
  assert.equal(
    parseSimpleSigningPayload(payload({ 'Docker-manifest-digest': digest })).manifestDigest,
    digest,
  );
  assert.throws(
    () =>
      parseSimpleSigningPayload(
        payload({ 'Docker-manifest-digest': digest, 'docker-manifest-digest': `sha256:${'00'.repeat(32)}` }),
      ),
    InvalidInputError,
  );
});

test("every field is read as cosign's Go decoder reads it: case-insensitively, Unicode folds included", () => {
  const digest = `sha256:${'0f'.repeat(32)}`;
  // As Go's encoding/json matches keys to sigstore's payload.SimpleContainerImage fields.
  const spelled = {
    CRITICAL: {
      Identity: { 'DOC\u212AER-REFERENCE': 'h/r' },
      iMaGe: { 'docker-manife\u017Ft-digest': digest },
      Type: 'cosign container image signature',
    },
    Optional: { tag: 'v1' },
  };
  assert.deepEqual(parseSimpleSigningPayload(Buffer.from(JSON.stringify(spelled)), digest), {
    dockerReference: 'h/r',
    manifestDigest: digest,
    optional: { tag: 'v1' },
  });
  // Folds that Go does not make are not matches: the field is missing.
  const dotted = { critical: { ...spelled.CRITICAL, İmage: spelled.CRITICAL.iMaGe, iMaGe: undefined } };
  assert.throws(() => parseSimpleSigningPayload(Buffer.from(JSON.stringify(dotted))), InvalidInputError);
});

test('a field spelled two ways is refused at any depth, where Go would take the last', () => {
  const digest = `sha256:${'0f'.repeat(32)}`;
  const critical = {
    identity: { 'docker-reference': 'h/r' },
    image: { 'docker-manifest-digest': digest },
    type: 'cosign container image signature',
  };
  for (const json of [
    { critical, Critical: { ...critical, image: { 'docker-manifest-digest': `sha256:${'00'.repeat(32)}` } } },
    { critical: { ...critical, Type: 'cosign container image signature' } },
    { critical: { ...critical, identity: { 'docker-reference': 'h/r', 'Docker-Reference': 'other/r' } } },
  ]) {
    assert.throws(
      () => parseSimpleSigningPayload(Buffer.from(JSON.stringify(json))),
      (err: unknown) => err instanceof InvalidInputError && /more than one way/.test(err.message),
      JSON.stringify(json),
    );
  }
});

test('malformed payloads are refused', () => {
  const digest = `sha256:${'0f'.repeat(32)}`;
  for (const json of [
    'not json',
    '{}',
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': 'h/r' },
        image: { 'docker-manifest-digest': digest },
        type: 'x',
      },
    }),
    JSON.stringify({
      critical: {
        identity: {},
        image: { 'docker-manifest-digest': digest },
        type: 'cosign container image signature',
      },
    }),
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': 'h/r' },
        image: { 'docker-manifest-digest': 'sha256:short' },
        type: 'cosign container image signature',
      },
    }),
  ]) {
    assert.throws(() => parseSimpleSigningPayload(Buffer.from(json)), InvalidInputError, json);
  }
});

test("cosign's bundle annotation parses and re-serialises to the same string", async () => {
  const layer = JSON.parse(await readFile(new URL('cosign-sig-layer.EXTRACTED.txt', fixtures), 'utf8'));
  const annotation: string = layer.annotations['dev.sigstore.cosign/bundle'];
  const bundle = parseRekorBundle(annotation);
  assert.ok(bundle);
  assert.equal(bundle.Payload.logIndex, 1004096555);
  assert.equal(serializeRekorBundle(bundle), annotation);
  assert.equal(parseRekorBundle('{"SignedEntryTimestamp":"x"}'), undefined);
});

test('the bundle annotation is read as cosign reads it: keys in any case, never spelled two ways', async () => {
  const layer = JSON.parse(await readFile(new URL('cosign-sig-layer.EXTRACTED.txt', fixtures), 'utf8'));
  const bundle = parseRekorBundle(layer.annotations['dev.sigstore.cosign/bundle'])!;
  const lower = JSON.stringify({
    signedEntryTimestamp: bundle.SignedEntryTimestamp,
    payload: {
      Body: bundle.Payload.body,
      integratedtime: bundle.Payload.integratedTime,
      LOGINDEX: bundle.Payload.logIndex,
      logId: bundle.Payload.logID,
    },
  });
  assert.deepEqual(parseRekorBundle(lower), bundle);
  const twice = JSON.stringify({ ...JSON.parse(lower), SignedEntryTimestamp: 'AAAA' });
  assert.equal(parseRekorBundle(twice), undefined);
});
