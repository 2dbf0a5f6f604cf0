/**
 * `sigsentry reverify --once` in text: besides the tags that are not valid and the pass's errors, a
 * KMS key version that is not enabled is printed (its images fail or are key-disabled, and the
 * key-disabled alert names it), so a terminal run says why as the function's ERROR line does.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { passLines } from '../../../functions/cli/commands/reverify.ts';
import { isKeyVersionAlert } from '../../../functions/reverify/key-alerts.ts';

const keyVersion = 'projects/p/locations/global/keyRings/r/cryptoKeys/b/cryptoKeyVersions/1';

describe('sigsentry reverify in text', () => {
  it('prints each key version not enabled, whether this run could trust it or not', () => {
    const lines = passLines({
      tags: 2,
      durationMs: 12,
      byStatus: { valid: 1, unsigned: 1 } as never,
      outcomes: [
        { ref: 'h/a:1', digest: 'sha256:aa', status: 'valid' },
        { ref: 'h/b:1', digest: 'sha256:bb', status: 'unsigned' },
      ] as never,
      keysNotEnabled: [
        { keyVersion, state: 'DISABLED', trusted: false },
        { keyVersion: `${keyVersion.slice(0, -1)}2`, state: 'DESTROYED', trusted: true },
      ],
      errors: [],
    });
    assert.deepEqual(lines, [
      '2 tags in 12 ms: 1 valid, 1 unsigned',
      '  unsigned: h/b:1 (sha256:bb)',
      `  key not enabled: ${keyVersion} is DISABLED (trusted for nothing)`,
      `  key not enabled: ${keyVersion.slice(0, -1)}2 is DESTROYED (its signatures are key-disabled)`,
    ]);
  });
});

describe('a key-disabled alert: a key version or a tag', () => {
  it('tells the pass-level alert of a key version from the alert of a tag signed with it', () => {
    assert.equal(isKeyVersionAlert({ kind: 'key-disabled', subject: keyVersion }), true);
    for (const subject of [
      'europe-docker.pkg.dev/p/releases/app:v1',
      'localhost:5000/projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1:v1',
      `${keyVersion}:v1`,
    ]) {
      assert.equal(isKeyVersionAlert({ kind: 'key-disabled', subject }), false, subject);
    }
    assert.equal(isKeyVersionAlert({ kind: 'unsigned-image', subject: keyVersion }), false);
  });
});
