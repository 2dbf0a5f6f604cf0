import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidInputError } from '../../../functions/errors.ts';
import { digestTag } from '../../../functions/registry/digest.ts';
import { formatImageReference, parseImageReference } from '../../../functions/registry/reference.ts';

const D = `sha256:${'ab'.repeat(32)}`;

test('Artifact Registry references parse and print back unchanged', () => {
  for (const input of [
    `us-docker.pkg.dev/my-project/my-repo/app@${D}`,
    'us-docker.pkg.dev/my-project/my-repo/app:v1.2.3',
    `europe-west1-docker.pkg.dev/p/r/team/app:latest@${D}`,
    `127.0.0.1:5000/team/app@${D}`,
    'localhost:5000/app:sha256-abc.sig',
  ]) {
    assert.equal(formatImageReference(parseImageReference(input)), input);
  }
  assert.deepEqual(parseImageReference(`127.0.0.1:5000/team/app:v1@${D}`), {
    host: '127.0.0.1:5000',
    repository: 'team/app',
    tag: 'v1',
    digest: D,
  });
});

test('the host is lower-cased; the port belongs to the host, not to a tag', () => {
  const ref = parseImageReference('Registry.Example.com:443/app:v1');
  assert.equal(ref.host, 'registry.example.com:443');
  assert.equal(ref.repository, 'app');
  assert.equal(ref.tag, 'v1');
});

test('malformed references are refused with InvalidInputError', () => {
  for (const input of [
    '',
    'app:v1',
    `us-docker.pkg.dev/p/r/app@sha256:${'ab'.repeat(31)}`,
    `us-docker.pkg.dev/p/r/app@sha512:${'ab'.repeat(64)}`,
    'us-docker.pkg.dev/p/r/App:v1',
    'us-docker.pkg.dev/p/r/app',
    'us-docker.pkg.dev/p/r/app:-bad',
    'us-docker.pkg.dev/p//app:v1',
    'user:pw@host/app:v1',
    `us-docker.pkg.dev/p/r/app:${'t'.repeat(129)}`,
  ]) {
    assert.throws(() => parseImageReference(input), InvalidInputError, input);
  }
});

test('a digest maps to the sha256-<hex> tag of the referrers tag schema', () => {
  assert.equal(digestTag(D), `sha256-${'ab'.repeat(32)}`);
  assert.throws(() => digestTag('sha256:xyz'), InvalidInputError);
});
