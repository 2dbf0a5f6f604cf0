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
