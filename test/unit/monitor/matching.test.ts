/**
 * Extraction and matching on real public log entries (test/fixtures/tlog/entries: production
 * dsse 0.0.1, intoto 0.0.2 and Rekor v2 hashedrekord 0.0.2 bodies with Fulcio certificates).
 */
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { runMonitor } from '../../../functions/monitor-log/core.ts';
import { certificateSpki } from '../../../functions/monitor-log/der.ts';
import { extractVerifiers } from '../../../functions/monitor-log/entry-verifiers.ts';
import { OwnedIdentitySchema, resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import { IdentityMatcher } from '../../../functions/monitor-log/matcher.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { certificateIdentity } from '../../../functions/tlog/entries/identity.ts';
import { unrelatedIdentity } from '../../helpers/unrelated-identity.ts';
import { logServing } from './key-entry-checks.ts';

const dir = 'test/fixtures/tlog/entries';
const v1Body = (file: string): Buffer => {
  const json = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as Record<string, { body: string }>;
  return Buffer.from(Object.values(json)[0]!.body, 'base64');
};
const bodies = {
  dsse: v1Body('prod_dsse_logIndex27246114.DERIVED.json'),
  intoto: v1Body('prod_intoto_logIndex27244980.DERIVED.json'),
  v2: Buffer.from(
    (
      JSON.parse(
        readFileSync(`${dir}/prod_log2025-1_TransparencyLogEntry_logIndex4855114.DERIVED.json`, 'utf8'),
      ) as { canonicalizedBody: string }
    ).canonicalizedBody,
    'base64',
  ),
};
const noKms = () => Promise.reject(new Error('no KMS'));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('verifier extraction and identity matching on real entries', () => {
  for (const [name, body] of Object.entries(bodies)) {
    it(`${name}: finds the certificate, fingerprints it without a parse, matches its identity`, async () => {
      const extracted = extractVerifiers(body);
      assert.ok(extracted.ok, JSON.stringify(extracted));
      const [verifier] = extracted.verifiers;
      assert.equal(verifier?.type, 'certificate');
      assert.ok(verifier.signature && verifier.signature.length > 0);
      const der = verifier.der;
      // The DER walk finds the same key node's X.509 parser does.
      const spki = new X509Certificate(der).publicKey.export({ format: 'der', type: 'spki' });
      assert.deepEqual(certificateSpki(der), spki);

      const { san, issuer } = certificateIdentity(der);
      assert.ok(san && issuer);
      const identities = await resolveIdentities(
        [
          OwnedIdentitySchema.parse({ type: 'certificate', san, issuer, name: 'exact' }),
          OwnedIdentitySchema.parse({
            type: 'certificate',
            sanRegex: `^${san.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`,
            issuerRegex: '^https://',
            name: 'regex',
          }),
          OwnedIdentitySchema.parse({
            type: 'certificateFingerprint',
            sha256: sha256(der),
            name: 'fingerprint',
          }),
          OwnedIdentitySchema.parse({ type: 'publicKey', sha256: sha256(spki), name: 'key' }),
          OwnedIdentitySchema.parse({
            type: 'certificate',
            san: `${san}.not-ours`,
            issuer,
            name: 'other-san',
          }),
          OwnedIdentitySchema.parse({
            type: 'certificate',
            san,
            issuer: 'https://not-the-issuer',
            name: 'other-issuer',
          }),
        ],
        noKms,
      );
      const names = new IdentityMatcher(identities).match(verifier).map((m) => m.identity.description);
      assert.deepEqual(names.sort(), ['exact', 'fingerprint', 'key', 'regex']);
    });
  }

  it('does not parse a certificate whose bytes cannot satisfy any rule', async () => {
    const identities = await resolveIdentities(
      [{ type: 'certificate', san: 'security@example.com', issuer: 'https://accounts.google.com' }],
      noKms,
    );
    const matcher = new IdentityMatcher(identities);
    for (const body of Object.values(bodies)) {
      const extracted = extractVerifiers(body);
      assert.ok(extracted.ok);
      assert.deepEqual(matcher.match(extracted.verifiers[0]!), []);
    }
    assert.equal(matcher.fullParses, 0);
  });

  it('matches Fulcio extension values (the source repository of the provenance bundle)', async () => {
    const der = (extractVerifiers(bodies.intoto) as { verifiers: Array<{ der: Buffer }> }).verifiers[0]!.der;
    const { san } = certificateIdentity(der);
    // Fulcio's issuer (v2, DER UTF8String) read back as an extension value.
    const issuer = certificateIdentity(der).issuer!;
    const ids = await resolveIdentities(
      [
        { type: 'certificate', extensions: { '1.3.6.1.4.1.57264.1.8': issuer } },
        { type: 'certificate', extensions: { '1.3.6.1.4.1.57264.1.8': `${issuer}/x` } },
      ],
      noKms,
    );
    const matches = new IdentityMatcher(ids).match({ type: 'certificate', der });
    assert.equal(matches.length, 1, `san ${san}`);
  });

  it('reports what it cannot read: malformed JSON, unknown kinds, missing keys', () => {
    for (const bad of [
      'not json',
      '{"kind":"no-such-kind","apiVersion":"0.0.1","spec":{}}',
      '{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{"signature":{"content":"AA=="}}}',
      '{"kind":"dsse","apiVersion":"0.0.1","spec":{"signatures":[]}}',
    ]) {
      const r = extractVerifiers(Buffer.from(bad));
      assert.equal(r.ok, false, bad);
    }
    // Kinds signed by keys sigsentry cannot own are read, with nothing to match.
    assert.deepEqual(extractVerifiers(Buffer.from('{"kind":"rfc3161","apiVersion":"0.0.1","spec":{}}')), {
      ok: true,
      kind: 'rfc3161',
      apiVersion: '0.0.1',
      verifiers: [],
    });
  });

  rejectsBadConfig();
});

function rejectsBadConfig() {
  it('rejects identity configuration that cannot work', () => {
    assert.throws(() => OwnedIdentitySchema.parse({ type: 'certificate', issuer: 'https://x' }));
    assert.throws(() => OwnedIdentitySchema.parse({ type: 'certificate', sanRegex: '(' }));
    assert.throws(() => OwnedIdentitySchema.parse({ type: 'kms', keyVersion: 'projects/p/keys/k' }));
    assert.throws(() => OwnedIdentitySchema.parse({ type: 'publicKey' }));
  });
}

describe('an entry the monitor cannot read', () => {
  it('raises entry-unparseable, and the scan goes on past it', async () => {
    // The emulator refuses malformed entries, so a log serving one is built here from its parts.
    const log = logServing([bodies.dsse, Buffer.from('{"kind":"no-such-kind"}'), bodies.v2]);
    const alerts = new MemoryAlertSink();
    const store = new MemoryMonitorStore();
    const result = await runMonitor({
      logs: [{ name: 'test', log, startIndex: 0 }],
      store,
      alerts,
      records: new StaticSigningRecordLookup(),
      // A key that made none of the entries: the monitor refuses to run with no identity at all.
      identities: await unrelatedIdentity(),
      logger: createMemoryLogger(),
    });
    assert.equal(result.ok, true);
    assert.equal(store.states.get('test')?.cursor, 3);
    const [alert] = alerts.ofKind('entry-unparseable');
    assert.equal(alert?.evidence.logIndex, 1);
    assert.match(String(alert?.evidence.verifierOutput), /no-such-kind/);
    assert.equal(alerts.raised.length, 1);
  });
});
