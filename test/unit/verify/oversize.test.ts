/**
 * Attacker-sized text in a foreign signature (a certificate SAN or issuer, a predicate type, a
 * statement subject name: a bundle may be megabytes) is bounded where it enters a verdict, so a tag
 * record stays well under Firestore's 1 MiB entity limit, while the decisions (which signer a
 * signature claims) are still made on the full values.
 */
import assert from 'node:assert/strict';
import crypto, { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Bundle } from '@sigstore/bundle';
import { checkBundleSignature } from '../../../functions/verify/bundle-signature.ts';
import { claimOf, signerName } from '../../../functions/verify/check.ts';
import type { ImagePolicy } from '../../../functions/verify/policy.ts';
import { decideStatus, type SignatureFinding } from '../../../functions/verify/verdict.ts';
import { verdictOf } from '../../../functions/verify/verifier.ts';
import { fulcioLikeCertificate, generalName } from '../monitor/fulcio-like-cert.ts';

const spki = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
  format: 'der',
  type: 'spki',
});
const GITHUB = 'https://token.actions.githubusercontent.com';
const OWNED = 'https://github.com/team/app/.github/workflows/release.yml@refs/heads/main';
const IMAGE = { host: 'registry.example.com', repository: 'team/app', digest: `sha256:${'a'.repeat(64)}` };
const sha256 = (text: string) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

function certificateBundle(san: string, issuer: string): Bundle {
  const der = fulcioLikeCertificate({ spki, sans: [generalName.uri(san)], issuer });
  return {
    verificationMaterial: {
      content: { $case: 'certificate', certificate: { rawBytes: der } },
      tlogEntries: [],
    },
  } as unknown as Bundle;
}

const policy = (subjectAlternativeName: string | RegExp): ImagePolicy => ({
  keys: [],
  identities: [{ subjectAlternativeName, issuer: GITHUB }],
});

/** Serialized size in UTF-8 bytes, as Firestore and Cloud Logging count it. */
const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

describe('attacker-sized text in verdicts', () => {
  it('bounds a foreign certificate identity, keeping a prefix, its length and its SHA-256', () => {
    const san = `https://x.example/${'S'.repeat(300 * 1024)}`;
    const issuer = `https://issuer.example/${'A'.repeat(400 * 1024)}`;
    const claim = claimOf(certificateBundle(san, issuer), policy(OWNED));
    assert.equal(claim.kind, 'foreign');
    const reason = (claim as { reason: string }).reason;
    assert.ok(reason.length < 3 * 1024, `reason is ${reason.length} characters`);
    assert.ok(reason.startsWith('signed by https://x.example/SSSS'), reason.slice(0, 60));
    assert.match(reason, new RegExp(`${Buffer.byteLength(san)} bytes, sha256:${sha256(san)}`));
    assert.match(reason, new RegExp(`${Buffer.byteLength(issuer)} bytes, sha256:${sha256(issuer)}`));
    // Two identities that differ only past the prefix are still told apart.
    const other = claimOf(certificateBundle(`${san}x`, issuer), policy(OWNED));
    assert.notEqual((other as { reason: string }).reason, reason);
  });

  it('matches identities on the full values, never on the bounded text', () => {
    const prefix = `${OWNED}/${'p'.repeat(4096)}`;
    // An exact expected SAN and a longer certificate SAN that shares its first kilobytes: not ours.
    const longer = claimOf(certificateBundle(`${prefix}-evil`, GITHUB), policy(prefix));
    assert.equal(longer.kind, 'foreign');
    // The exact SAN, however long: ours, with the full SAN on the claim.
    const exact = claimOf(certificateBundle(prefix, GITHUB), policy(prefix));
    assert.equal(exact.kind, 'identity');
    assert.equal((exact as { san: string }).san, prefix);
    // A pattern that matches a huge SAN: the claim keeps it whole, its displayed signer is bounded.
    const huge = `${OWNED}?${'q'.repeat(200 * 1024)}`;
    const byPattern = claimOf(certificateBundle(huge, GITHUB), policy(/^https:\/\/github\.com\/team\//));
    assert.equal(byPattern.kind, 'identity');
    if (byPattern.kind !== 'identity') return;
    assert.equal(byPattern.san, huge);
    const shown = signerName(byPattern);
    assert.ok(shown.signer.length <= 1024, `signer is ${shown.signer.length} characters`);
    assert.ok(shown.signer.includes(sha256(huge)));
  });

  it("bounds a statement's predicate type in a foreign bundle's reason", () => {
    const predicateType = `https://evil.example/${'P'.repeat(300 * 1024)}`;
    const statement = { _type: 'https://in-toto.io/Statement/v1', predicateType, subject: [] };
    const json = {
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: { publicKey: { hint: 'abc' }, tlogEntries: [] },
      dsseEnvelope: {
        payload: Buffer.from(JSON.stringify(statement)).toString('base64'),
        payloadType: 'application/vnd.in-toto+json',
        signatures: [{ sig: Buffer.from('x').toString('base64'), keyid: '' }],
      },
    };
    const finding = checkBundleSignature(
      Buffer.from(JSON.stringify(json)),
      `sha256:${'b'.repeat(64)}`,
      IMAGE,
      { keys: [], identities: [] },
      { logs: [] },
    );
    assert.equal(finding.outcome, 'foreign');
    assert.ok(finding.reason!.length < 2 * 1024, `reason is ${finding.reason!.length} characters`);
    assert.match(finding.reason!, /, not a signature$/);
    assert.ok(finding.reason!.includes(sha256(predicateType)));
  });

  it('bounds every reason and finding of a verdict, however many foreign signatures there are', () => {
    const findings: SignatureFinding[] = Array.from({ length: 300 }, (_, i) => ({
      layout: 'bundle',
      location: `sha256:${i.toString(16).padStart(64, '0')}`,
      outcome: 'foreign',
      reason: `signed by https://x${i}.example/${'z'.repeat(1000)} via https://issuer.example`,
    }));
    const { status, reasons } = decideStatus(findings);
    assert.equal(status, 'unsigned');
    assert.equal(reasons.length, 1);
    assert.ok(reasons[0]!.length <= 4096, `the reason is ${reasons[0]!.length} characters`);
    assert.ok(
      reasons[0]!.startsWith('no signature by an expected key or identity (signed by https://x0.example/'),
    );

    // As many invalid signatures: a bounded number of reasons, the last saying how many more.
    const invalid = findings.map((f) => ({ ...f, outcome: 'invalid' as const }));
    const many = decideStatus(invalid);
    assert.equal(many.status, 'invalid');
    assert.equal(many.reasons.length, 20);
    assert.equal(many.reasons[19], '… and 281 more signatures that do not verify');
    // Tens of thousands of foreign signatures: one bounded reason, made without joining them all.
    const crowd = decideStatus(Array.from({ length: 50_000 }, () => findings[1]!));
    assert.ok(crowd.reasons[0]!.length <= 4096);

    // Findings whose own texts are huge (an error message quoting a registry's answer, a signer).
    const huge: SignatureFinding[] = [
      { layout: 'cosign', location: 'sig-tag', outcome: 'invalid', reason: `bad: ${'r'.repeat(600 * 1024)}` },
      {
        layout: 'bundle',
        location: `sha256:${'c'.repeat(64)}`,
        outcome: 'invalid',
        reason: `log entry 1 ${'e'.repeat(600 * 1024)}`,
        signer: `${OWNED}?${'s'.repeat(300 * 1024)}`,
        issuer: `${GITHUB}/${'i'.repeat(300 * 1024)}`,
      },
    ];
    const verdict = verdictOf(IMAGE, huge, { signatureManifest: null, referrers: null }, new Date());
    assert.equal(verdict.status, 'invalid');
    assert.ok(bytes(verdict) < 32 * 1024, `the verdict is ${bytes(verdict)} bytes`);
    for (const r of verdict.reasons) assert.ok(r.length <= 4096);
    assert.ok(verdict.findings[0]!.reason!.startsWith('bad: rrrr'));
    assert.equal(
      verdict.findings[1]!.location,
      `sha256:${'c'.repeat(64)}`,
      'short texts are kept as they are',
    );
  });

  it('keeps a verdict from the review repro (400 KB issuer) far below the Firestore entity limit', () => {
    const issuer = `https://issuer.example/${'A'.repeat(400 * 1024)}`;
    const claim = claimOf(certificateBundle('https://x.example/a', issuer), policy(OWNED));
    assert.equal(claim.kind, 'foreign');
    const finding: SignatureFinding = {
      layout: 'bundle',
      location: `sha256:${'b'.repeat(64)}`,
      outcome: 'foreign',
      reason: (claim as { reason: string }).reason,
    };
    const verdict = verdictOf(IMAGE, [finding], { signatureManifest: null, referrers: null }, new Date());
    assert.equal(verdict.status, 'unsigned');
    assert.ok(bytes(verdict) < 16 * 1024, `the verdict is ${bytes(verdict)} bytes`);
  });
});
