/**
 * A verdict lists every finding that decides its status, and only the first MAX_LISTED_FINDINGS
 * foreign ones (the rest counted in `foreignOmitted`), so a tag record stays well under Firestore's
 * 1 MiB entity limit however many signatures by others a registry holds (the client accepts 10,000
 * referrers). Found by review: 7,000 foreign referrers made the record too large to store, and the
 * `unsigned` verdict and its alert were dropped.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, it } from 'node:test';
import {
  decideStatus,
  MAX_LISTED_FINDINGS,
  type SignatureFinding,
} from '../../../functions/verify/verdict.ts';
import { verdictOf } from '../../../functions/verify/verifier.ts';

const IMAGE = { host: 'registry.example', repository: 'third/party', digest: `sha256:${'a'.repeat(64)}` };
const FINGERPRINT = { signatureManifest: null, referrers: `sha256:${'b'.repeat(64)}` };
const NOW = new Date('2026-12-03T00:00:00Z');
const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

const foreign = (n: number): SignatureFinding[] =>
  Array.from({ length: n }, (_, i) => ({
    layout: 'bundle' as const,
    location: `sha256:${crypto.createHash('sha256').update(String(i)).digest('hex')}`,
    outcome: 'foreign' as const,
    reason: `signed by a key the policy does not name (${i})`,
  }));
const ours = (outcome: SignatureFinding['outcome'], i: number): SignatureFinding => ({
  layout: 'cosign',
  location: `sha256:${String(i).padStart(64, '0')}`,
  outcome,
  signer: 'pem:abcd',
  ...(outcome === 'invalid' ? { reason: 'signature does not verify' } : {}),
});

describe('foreign findings in a verdict', () => {
  it('lists the first foreign findings of 7,000, counts the rest, and stays small', () => {
    const all = foreign(7000);
    assert.ok(bytes(all) > 512 * 1024, 'all of them would be most of an entity');
    const verdict = verdictOf(IMAGE, all, FINGERPRINT, NOW);
    assert.equal(verdict.status, 'unsigned');
    assert.equal(verdict.findings.length, MAX_LISTED_FINDINGS);
    assert.deepEqual(
      verdict.findings.map((f) => f.location),
      all.slice(0, MAX_LISTED_FINDINGS).map((f) => f.location),
    );
    assert.equal(verdict.foreignOmitted, 7000 - MAX_LISTED_FINDINGS);
    assert.ok(bytes(verdict) < 32 * 1024, `the verdict is ${bytes(verdict)} bytes`);
    assert.deepEqual(verdict.reasons, decideStatus(all).reasons, 'the reasons name the same count');
  });

  it('keeps every finding that decides the status, wherever it is among the foreign ones', () => {
    const all = [
      ...foreign(3000),
      ours('valid', 1),
      ...foreign(3000),
      ours('invalid', 2),
      ours('key-disabled', 3),
    ];
    const verdict = verdictOf(IMAGE, all, FINGERPRINT, NOW);
    assert.equal(verdict.status, 'invalid');
    assert.deepEqual(
      verdict.findings.filter((f) => f.outcome !== 'foreign').map((f) => f.outcome),
      ['valid', 'invalid', 'key-disabled'],
    );
    assert.equal(verdict.findings.length, MAX_LISTED_FINDINGS + 3);
    assert.equal(verdict.foreignOmitted, 6000 - MAX_LISTED_FINDINGS);
  });

  it('judged again from its own listing (a cached pass), a verdict is the same verdict', () => {
    for (const all of [foreign(7000), [ours('valid', 1), ...foreign(500)], foreign(3), []]) {
      const first = verdictOf(IMAGE, all, FINGERPRINT, NOW);
      const again = verdictOf(IMAGE, first.findings, FINGERPRINT, NOW, [], first);
      assert.deepEqual(again, first);
    }
  });

  it('a verdict with few foreign findings lists them all and carries no count', () => {
    const verdict = verdictOf(IMAGE, foreign(MAX_LISTED_FINDINGS), FINGERPRINT, NOW);
    assert.equal(verdict.findings.length, MAX_LISTED_FINDINGS);
    assert.equal('foreignOmitted' in verdict, false);
  });
});
