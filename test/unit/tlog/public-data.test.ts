import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { certificateIdentity, parseEntryBody } from '../../../functions/tlog/entries/index.ts';
import { embeddedPublicGoodTrustedRoot } from '../../../functions/tlog/trust.ts';

const DIR = join(import.meta.dirname, '../../fixtures/tlog');
const json = (p: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(DIR, p), 'utf8')) as Record<string, unknown>;
const artifact = readFileSync(join(DIR, 'bundles/bundles__artifact.txt'));
const verifier = new Verifier(toTrustMaterial(embeddedPublicGoodTrustedRoot()), {
  tlogThreshold: 1,
  ctlogThreshold: 1,
});

function verifyBundle(file: string, data?: Buffer): void {
  const bundle = bundleFromJSON(json(file));
  verifier.verify(toSignedEntity(bundle, data));
}

function firstBody(file: string): string {
  const b = json(file) as {
    verificationMaterial: { tlogEntries: Array<{ canonicalizedBody: string; logIndex: string }> };
  };
  return b.verificationMaterial.tlogEntries[0]!.canonicalizedBody;
}

describe('real public-good bundles verify offline with the embedded trusted root', () => {
  for (const [file, withArtifact] of [
    ['bundles/tests_bundles_bundleV03-dsse.sigstore', false],
    ['bundles/tests_bundles_bundleV03-intoto.sigstore', false],
    ['bundles/tests_bundles_bundleV02-dsse.sigstore', false],
    ['bundles/bundles__sigstore.js@2.0.0-provenance.sigstore.json', false],
    ['bundles/bundles__bundle.sigstore', true],
    ['bundles/bundles__PKIX_ECDSA_P384_SHA_384.sigstore.json', true],
  ] as const) {
    it(`${file} verifies`, () => verifyBundle(file, withArtifact ? artifact : undefined));
  }

  for (const file of [
    'bundles/bundles__bundle-with-mismatched-set.sigstore',
    'bundles/bundles__bundle-with-wrong-tlog-entry.sigstore',
    'bundles/bundles__bundle-with-bad-checkpoint-signature.sigstore',
  ]) {
    it(`${file} (tampered upstream) fails`, () => assert.throws(() => verifyBundle(file, artifact)));
  }

  it('tampered copies fail: body, inclusion proof hash, SET, checkpoint, artifact', () => {
    // biome-ignore lint/suspicious/noExplicitAny: tampering walks raw bundle JSON
    const tamper: Array<(b: any) => void> = [
      (b) => {
        const body = Buffer.from(
          b.verificationMaterial.tlogEntries[0].canonicalizedBody,
          'base64',
        ).toString();
        b.verificationMaterial.tlogEntries[0].canonicalizedBody = Buffer.from(
          body.replace('"sha256"', '"sha256" '),
        ).toString('base64');
      },
      (b) => {
        const h = Buffer.from(b.verificationMaterial.tlogEntries[0].inclusionProof.hashes[0], 'base64');
        h[0] = h[0]! ^ 1;
        b.verificationMaterial.tlogEntries[0].inclusionProof.hashes[0] = h.toString('base64');
      },
      (b) => {
        b.verificationMaterial.tlogEntries[0].integratedTime = String(
          Number(b.verificationMaterial.tlogEntries[0].integratedTime) + 1,
        );
      },
      (b) => {
        const cp = b.verificationMaterial.tlogEntries[0].inclusionProof.checkpoint;
        cp.envelope = cp.envelope.replace(/\n(\d+)\n/, (_: string, n: string) => `\n${Number(n) + 1}\n`);
      },
    ];
    for (const [i, t] of tamper.entries()) {
      const b = json('bundles/tests_bundles_bundleV03-dsse.sigstore');
      t(b);
      assert.throws(() => verifier.verify(toSignedEntity(bundleFromJSON(b))), `tamper ${i}`);
    }
    const bytes = Buffer.from(artifact);
    bytes[0] = bytes[0]! ^ 1;
    assert.throws(() => verifyBundle('bundles/bundles__bundle.sigstore', bytes));
  });
});

describe('real log bodies parse into the typed shape with the right identity', () => {
  it('prod dsse entry (logIndex 27246114): payload digest, certificate, GitHub-OAuth email identity', () => {
    const entry = Object.values(json('entries/prod_dsse_logIndex27246114.DERIVED.json'))[0] as {
      body: string;
      logIndex: number;
    };
    const r = parseEntryBody(entry.body, entry.logIndex);
    assert.ok(r.ok);
    assert.equal(r.entry.kind, 'dsse');
    assert.equal(
      r.entry.artifactDigest?.hex,
      '9d0e79526eac45e14ba330e17f7200531ac9ddfc20ada74443b36d604292e30c',
    );
    assert.equal(r.entry.verifier.type, 'certificate');
    const id = certificateIdentity((r.entry.verifier as { der: Buffer }).der);
    assert.equal(id.san, 'brian@dehamer.com');
    assert.equal(id.issuer, 'https://github.com/login/oauth');
  });

  it('prod intoto entry (logIndex 27244980) parses with its signature and certificate', () => {
    const entry = Object.values(json('entries/prod_intoto_logIndex27244980.DERIVED.json'))[0] as {
      body: string;
    };
    const r = parseEntryBody(entry.body);
    assert.ok(r.ok);
    assert.equal(r.entry.kind, 'intoto');
    assert.equal(r.entry.signatures.length, 1);
    assert.ok(r.entry.signatures[0]!.signature.length > 60);
    assert.equal(certificateIdentity((r.entry.verifier as { der: Buffer }).der).san, 'brian@dehamer.com');
  });

  it('staging hashedrekord with a certificate, and the bundle bodies match their bundles', () => {
    const entry = Object.values(json('entries/rekor-response__valid__entry.json'))[0] as { body: string };
    const r = parseEntryBody(entry.body);
    assert.ok(r.ok);
    assert.equal(r.entry.kind, 'hashedrekord');
    assert.equal(r.entry.artifactDigest?.algorithm, 'sha256');
    assert.equal(r.entry.verifier.type, 'certificate');
    const provenance = parseEntryBody(
      firstBody('bundles/bundles__sigstore.js@2.0.0-provenance.sigstore.json'),
    );
    assert.ok(provenance.ok);
    assert.equal(
      certificateIdentity((provenance.entry.verifier as { der: Buffer }).der).san,
      'https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main',
    );
  });

  it('a jar entry and garbage are typed errors, never exceptions', () => {
    const jar = Object.values(json('entries/rekor-response__valid__jar-entry.json'))[0] as {
      body: string;
      logIndex: number;
    };
    const r = parseEntryBody(jar.body, jar.logIndex);
    assert.ok(!r.ok);
    assert.equal(r.error.error, 'unknown-kind');
    assert.equal(r.error.kind, 'jar');
    assert.equal(r.error.logIndex, jar.logIndex);
    for (const bad of [
      '',
      'bm90IGpzb24=',
      Buffer.from('{"kind":"hashedrekord","spec":{}}').toString('base64'),
    ]) {
      const res = parseEntryBody(bad, 9);
      assert.ok(!res.ok);
      assert.equal(res.error.error, 'malformed');
    }
  });
});
