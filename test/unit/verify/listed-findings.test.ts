/**
 * A verdict lists a bounded number of findings of every outcome, not only foreign ones: anyone who
 * can push may attach thousands of signatures that claim the owned key and do not verify, or copies
 * of one that does. Found by review: `invalid` findings were all listed, so such a verdict passed
 * Firestore's 1 MiB entity limit and was never stored. The listing decides what the full list
 * decides (status, and the counts the reasons give), also once re-checked from a stored record.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { alertsForChange } from '../../../functions/reverify/alerts.ts';
import {
  decideStatus,
  type FindingOutcome,
  MAX_LISTED_BYTES,
  MAX_LISTED_FINDINGS,
  MAX_REASONS,
  type SignatureFinding,
  type SignatureLayout,
  type Verdict,
} from '../../../functions/verify/verdict.ts';
import { verdictOf } from '../../../functions/verify/verifier.ts';

const IMAGE = { host: 'registry.example', repository: 'team/app', digest: `sha256:${'a'.repeat(64)}` };
const FINGERPRINT = { signatureManifest: `sha256:${'c'.repeat(64)}`, referrers: null };
const NOW = new Date('2026-12-03T00:00:00Z');
const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));
const at = (i: number) => `sha256:${crypto.createHash('sha256').update(String(i)).digest('hex')}`;
/** A location of its own for each generated finding. */
let generated = 0;
const V1 = 'projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1';
const V2 = 'projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/2';

const forged = (
  i: number,
  reason = 'the signature does not verify under the expected key',
): SignatureFinding => ({
  layout: 'cosign',
  location: at(i),
  outcome: 'invalid',
  reason,
  signer: 'pem:abcd',
  keyVersion: V1,
});
/** A signature that verified, logged at `logIndex` (the same index: the same signature, copied). */
const verified = (
  i: number,
  keyVersion: string,
  logIndex: number,
  layout: SignatureLayout = 'cosign',
): SignatureFinding => ({
  layout,
  location: at(i),
  outcome: 'valid',
  signer: 'pem:abcd',
  keyVersion,
  keyState: 'ENABLED',
  log: [
    {
      logId: 'f'.repeat(64),
      logIndex,
      integratedTime: 1_790_000_000,
      kind: 'hashedrekord',
      bodyHash: crypto.createHash('sha256').update(String(logIndex)).digest('hex'),
      inclusion: ['signed-entry-timestamp'],
    },
  ],
});

/** The findings a verdict stands for, by outcome: listed, their copies, and those only counted. */
function counted(v: Pick<Verdict, 'findings' | 'foreignOmitted' | 'oursOmitted'>): Record<string, number> {
  const out: Record<string, number> = {};
  const add = (outcome: string, n: number) => {
    if (n > 0) out[outcome] = (out[outcome] ?? 0) + n;
  };
  for (const f of v.findings) add(f.outcome, 1 + (f.copies ?? 0));
  for (const [outcome, n] of Object.entries(v.oursOmitted ?? {})) add(outcome, n);
  add('foreign', v.foreignOmitted ?? 0);
  return out;
}
const countedAll = (findings: readonly SignatureFinding[]) => counted({ findings: [...findings] });

/** How many signatures a status's reasons name: one a line, the last "… and N more" counting N. */
function reasonsCount(reasons: readonly string[]): number {
  const more = /^… and (\d+) more /.exec(reasons.at(-1) ?? '');
  return more === null ? reasons.length : reasons.length - 1 + Number(more[1]);
}

/** A re-check as a cached pass makes one (reverify/core.ts): of what a finding is, not where. */
function recheck(
  findings: readonly SignatureFinding[],
  states: Record<string, string>,
  failing: ReadonlySet<number>,
): SignatureFinding[] {
  return findings.map((f) => {
    if (f.outcome === 'foreign' || (f.outcome === 'invalid' && f.log === undefined)) return f;
    const { reason: _reason, inclusionRecheckFailed: _mark, ...signed } = f;
    if (f.log?.some((l) => failing.has(l.logIndex))) {
      return {
        ...signed,
        outcome: 'invalid',
        reason: 'log inclusion re-check failed',
        inclusionRecheckFailed: true,
      };
    }
    const state = states[f.keyVersion ?? ''] ?? 'ENABLED';
    return { ...signed, keyState: state, outcome: state === 'ENABLED' ? 'valid' : 'key-disabled' };
  });
}

describe('the findings a verdict lists, of every outcome', () => {
  it('lists a bounded few of 5,000 forgeries, counts the rest, and its reasons count all of them', () => {
    const all = Array.from({ length: 5000 }, (_, i) => forged(i));
    assert.ok(bytes(all) > 1_048_576, 'all of them would not fit an entity');
    const verdict = verdictOf(IMAGE, all, FINGERPRINT, NOW);
    assert.equal(verdict.status, 'invalid');
    assert.equal(verdict.findings.length, MAX_LISTED_FINDINGS);
    assert.deepEqual(
      verdict.findings.map((f) => f.location),
      all.slice(0, MAX_LISTED_FINDINGS).map((f) => f.location),
    );
    assert.deepEqual(verdict.oursOmitted, { invalid: 5000 - MAX_LISTED_FINDINGS });
    assert.ok(bytes(verdict) < 64 * 1024, `the verdict is ${bytes(verdict)} bytes`);
    assert.deepEqual(verdict.reasons, decideStatus(all).reasons, 'the same reasons as all of them give');
    assert.equal(
      verdict.reasons.at(-1),
      `… and ${5000 - (MAX_REASONS - 1)} more signatures that do not verify`,
    );

    // Judged again from its listing and counts (a cached pass): the same verdict.
    assert.deepEqual(verdictOf(IMAGE, verdict.findings, FINGERPRINT, NOW, [], verdict), verdict);
  });

  it('lists forgeries whose texts are as long as bounded texts get within a byte budget', () => {
    // 4 KiB reasons of 3-byte characters: about 12 KiB a finding, bounded.
    const all = Array.from({ length: 5000 }, (_, i) => forged(i, `${i}: ${'ᚠ'.repeat(5000)}`));
    const verdict = verdictOf(IMAGE, all, FINGERPRINT, NOW);
    assert.equal(verdict.status, 'invalid');
    const listed = bytes(verdict.findings);
    assert.ok(listed <= MAX_LISTED_BYTES + 13 * 1024, `the listing is ${listed} bytes`);
    assert.equal(verdict.findings.length + verdict.oursOmitted!.invalid!, 5000);
    assert.equal(reasonsCount(verdict.reasons), 5000);
  });

  it('counts copies of a verified signature on it, so a re-check of the listing judges them all', () => {
    // 5,000 copies of a signature by key version 1, then one by key version 2.
    const all = [...Array.from({ length: 5000 }, (_, i) => verified(i, V1, 7)), verified(9999, V2, 8)];
    const verdict = verdictOf(IMAGE, all, FINGERPRINT, NOW, ['cosign']);
    assert.equal(verdict.status, 'valid');
    assert.deepEqual(
      verdict.findings.map((f) => [f.keyVersion, f.copies]),
      [
        [V1, 4999],
        [V2, undefined],
      ],
    );
    assert.deepEqual(verdict.reasons, [
      'cosign signature by pem:abcd verifies',
      'cosign signature by pem:abcd verifies',
      '… and 4999 more signatures that verify',
    ]);
    for (const [states, failing, status] of [
      [{ [V1]: 'DISABLED' }, new Set<number>(), 'valid'],
      [{ [V1]: 'DISABLED', [V2]: 'DESTROYED' }, new Set<number>(), 'key-disabled'],
      [{}, new Set([7]), 'invalid'],
    ] as const) {
      const whole = decideStatus(recheck(all, states, failing), ['cosign']);
      const stored = verdictOf(
        IMAGE,
        recheck(verdict.findings, states, failing),
        FINGERPRINT,
        NOW,
        ['cosign'],
        verdict,
      );
      assert.equal(whole.status, status);
      assert.equal(stored.status, status);
      assert.equal(reasonsCount(stored.reasons), reasonsCount(whole.reasons), `${status}: the same count`);
    }
  });

  it('keeps a good signature of each expected signer past the bound, so disabling one key leaves the other deciding', () => {
    // 60 distinct signings by key version 1 (each its own log entry), then one by key version 2.
    // Found by review: only the first 50 verified signatures were listed, so a cached pass never
    // saw version 2's and called the tag key-disabled once version 1 was, where a fresh one said valid.
    const all = [...Array.from({ length: 60 }, (_, i) => verified(i, V1, 100 + i)), verified(9999, V2, 8)];
    const verdict = verdictOf(IMAGE, all, FINGERPRINT, NOW, ['cosign']);
    assert.ok(
      verdict.findings.some((f) => f.keyVersion === V2),
      'the signature by key version 2 is listed',
    );
    const states = { [V1]: 'DISABLED' };
    const whole = decideStatus(recheck(all, states, new Set()), ['cosign']);
    const stored = verdictOf(
      IMAGE,
      recheck(verdict.findings, states, new Set()),
      FINGERPRINT,
      NOW,
      ['cosign'],
      verdict,
    );
    assert.equal(whole.status, 'valid');
    assert.equal(stored.status, 'valid');
  });

  it('keeps a good signature of each layout, so a layout verified before is missing only when it is', () => {
    // Past the listing's bound of distinct verified signatures in one layout, then one in the other.
    const all = [
      ...Array.from({ length: MAX_LISTED_FINDINGS + 10 }, (_, i) => verified(i, V1, 100 + i)),
      verified(9999, V1, 99, 'bundle'),
    ];
    const verdict = verdictOf(IMAGE, all, FINGERPRINT, NOW, ['cosign', 'bundle']);
    assert.equal(verdict.status, 'valid');
    assert.ok(verdict.findings.some((f) => f.layout === 'bundle'));
    assert.equal(decideStatus(verdict.findings, ['cosign', 'bundle'], verdict).status, 'valid');
    assert.deepEqual(counted(verdict), { valid: MAX_LISTED_FINDINGS + 11 });
  });

  it('reads a record made before the bound (every copy listed, no counts) as it was judged', () => {
    const listedBefore = [...Array.from({ length: 300 }, (_, i) => verified(i, V1, 7)), forged(1)];
    const before = decideStatus(listedBefore, ['cosign'], { foreignOmitted: 12 });
    const now = verdictOf(IMAGE, listedBefore, FINGERPRINT, NOW, ['cosign'], { foreignOmitted: 12 });
    assert.equal(now.status, before.status);
    assert.deepEqual(now.reasons, before.reasons);
    assert.deepEqual(counted(now), { valid: 300, invalid: 1, foreign: 12 });
  });

  it('bounds the findings an alert shows, and says how many it leaves out', () => {
    const all = [...Array.from({ length: 5000 }, (_, i) => forged(i)), verified(9999, V1, 7)];
    const verdict = verdictOf(IMAGE, all, FINGERPRINT, NOW, ['cosign']);
    const { raise } = alertsForChange({
      ref: 'registry.example/team/app:prod',
      verdict,
      previous: undefined,
    });
    const evidence = raise[0]!.evidence;
    assert.equal((evidence['findings'] as unknown[]).length, 20);
    assert.equal(evidence['findingsNotShown'], verdict.findings.length - 20);
    assert.deepEqual(evidence['findingsOmitted'], { invalid: 5000 - MAX_LISTED_FINDINGS });
    assert.ok(bytes(evidence) < 16 * 1024, `the evidence is ${bytes(evidence)} bytes`);
  });

  it('decides, from its listing and once re-checked, what all the findings decide (generated floods)', () => {
    const outcomes: FindingOutcome[] = ['valid', 'invalid', 'key-disabled', 'foreign'];
    const finding = fc
      .record({
        outcome: fc.constantFrom(...outcomes),
        layout: fc.constantFrom<SignatureLayout>('cosign', 'bundle'),
        keyVersion: fc.constantFrom(V1, V2),
        logIndex: fc.integer({ min: 1, max: 4 }),
        recheckFailed: fc.boolean(),
        reasonLength: fc.constantFrom(20, 20, 20, 3000),
        copies: fc.integer({ min: 1, max: 150 }),
      })
      .map(({ outcome, layout, keyVersion, logIndex, recheckFailed, reasonLength, copies }) => {
        const one: SignatureFinding =
          outcome === 'foreign'
            ? { layout, location: '', outcome, reason: 'x'.repeat(reasonLength) }
            : outcome === 'invalid' && !recheckFailed
              ? { ...forged(0, 'y'.repeat(reasonLength)), layout }
              : {
                  ...verified(0, keyVersion, logIndex, layout),
                  outcome,
                  ...(outcome === 'invalid'
                    ? { reason: 'log inclusion re-check failed', inclusionRecheckFailed: true as const }
                    : {}),
                };
        return Array.from({ length: copies }, () => ({ ...one, location: at(++generated) }));
      });
    const flood = fc.array(finding, { minLength: 0, maxLength: 12 }).map((groups) => groups.flat());
    const expected = fc.subarray<SignatureLayout>(['cosign', 'bundle']);
    const states = fc.record({
      [V1]: fc.constantFrom('ENABLED', 'DISABLED'),
      [V2]: fc.constantFrom('ENABLED', 'DESTROYED'),
    });
    const failing = fc.subarray([1, 2, 3, 4]).map((a) => new Set(a));
    fc.assert(
      fc.property(flood, expected, states, failing, (all, layouts, keyStates, failed) => {
        const verdict = verdictOf(IMAGE, all, FINGERPRINT, NOW, layouts);
        const whole = decideStatus(all, layouts);
        assert.equal(verdict.status, whole.status);
        assert.deepEqual(counted(verdict), countedAll(all));
        assert.equal(reasonsCount(verdict.reasons), reasonsCount(whole.reasons));
        assert.ok(bytes(verdict) < 256 * 1024, `the verdict is ${bytes(verdict)} bytes`);
        assert.deepEqual(verdictOf(IMAGE, verdict.findings, FINGERPRINT, NOW, layouts, verdict), verdict);
        // Re-checked from the stored listing as a cached pass does, and all of them re-checked alike.
        const again = verdictOf(
          IMAGE,
          recheck(verdict.findings, keyStates, failed),
          FINGERPRINT,
          NOW,
          layouts,
          verdict,
        );
        const wholeAgain = decideStatus(recheck(all, keyStates, failed), layouts);
        assert.equal(again.status, wholeAgain.status);
        assert.equal(reasonsCount(again.reasons), reasonsCount(wholeAgain.reasons));
      }),
      { numRuns: 100 },
    );
  });
});
