/**
 * What `sigsentry sign` (and `sign --backfill`) reports per image, as `--json` prints it in `results`:
 * an image already signed whose signatures were gone from the registry and attached again lists those
 * formats in `reattached`, beside the `detail` sentence the text output prints. Before 2026-12-03 the
 * formats were only in that sentence (found by review).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { signResult } from '../../../functions/cli/commands/sign.ts';

const IMAGE = `registry.example.com/team/app@sha256:${'a'.repeat(64)}`;
/** A result as `--json` prints it. */
const json = (result: object) => JSON.parse(JSON.stringify(result)) as Record<string, unknown>;

test('an image already signed, its signatures re-attached: the formats are listed in the JSON result', () => {
  const result = json(
    signResult(IMAGE, {
      outcome: 'already-signed',
      image: IMAGE,
      formats: ['bundle', 'cosign'],
      reattached: ['bundle', 'cosign'],
    }),
  );
  assert.deepEqual(result, {
    image: IMAGE,
    outcome: 'already-signed',
    detail: 're-attached in bundle, cosign',
    reattached: ['bundle', 'cosign'],
  });
});

test('nothing re-attached: no reattached field; a skip keeps its reason as the detail', () => {
  assert.deepEqual(
    json(signResult(IMAGE, { outcome: 'already-signed', image: IMAGE, formats: ['cosign'] })),
    {
      image: IMAGE,
      outcome: 'already-signed',
    },
  );
  assert.deepEqual(json(signResult(IMAGE, { outcome: 'signed', image: IMAGE, formats: ['cosign'] })), {
    image: IMAGE,
    outcome: 'signed',
  });
  assert.deepEqual(json(signResult(IMAGE, { outcome: 'skipped', reason: 'a signature artifact' })), {
    image: IMAGE,
    outcome: 'skipped',
    detail: 'a signature artifact',
  });
});
