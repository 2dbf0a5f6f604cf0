/**
 * The watchlist's keyless path against real signatures made by the public-good instance, verified
 * offline against the trusted root embedded in @sigstore/tuf (fixtures/SOURCE.md gives their origin).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { verifySubjectAlternativeName } from '@sigstore/verify/dist/policy.js';
import type { StoredCosignSignature } from '../../../functions/attach/cosign-layout.ts';
import { parseRekorBundle } from '../../../functions/attach/rekor-bundle.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { embeddedPublicGoodTrustedRoot } from '../../../functions/tlog/trust.ts';
import { parseBundle } from '../../../functions/verify/bundle-signature.ts';
import {
  claimOf,
  LoggedSignerMismatchError,
  SignatureCheckError,
  sanPolicyPattern,
  type VerifierTrust,
  verifyClaimed,
} from '../../../functions/verify/check.ts';
import { checkCosignSignature } from '../../../functions/verify/cosign-signature.ts';
import type { ImagePolicy } from '../../../functions/verify/policy.ts';
import { verifyImage } from '../../../functions/verify/verifier.ts';
import {
  GITHUB_ISSUER,
  keylessFixture,
  mirrorServerSignature,
  SERVER_IDENTITY,
  SERVER_IMAGE,
  serverSignatureLayer,
  serverSignaturePayload,
} from '../../helpers/keyless-fixture.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { startTokenServer, type TokenServer } from '../../helpers/token-server.ts';

const fixture = keylessFixture;

const GITHUB = GITHUB_ISSUER;
const layer = serverSignatureLayer;
const payload = serverSignaturePayload;

function storedSignature(overrides: Partial<StoredCosignSignature> = {}): StoredCosignSignature {
  const a = layer.annotations;
  return {
    layer,
    payload,
    signature: a['dev.cosignproject.cosign/signature'],
    bundleAnnotation: a['dev.sigstore.cosign/bundle'],
    bundle: parseRekorBundle(a['dev.sigstore.cosign/bundle']!),
    certificate: a['dev.sigstore.cosign/certificate'],
    chain: a['dev.sigstore.cosign/chain'],
    ...overrides,
  };
}

const trust: VerifierTrust = { logs: [], publicGoodRoot: embeddedPublicGoodTrustedRoot() };
const policyFor = (identity: { subjectAlternativeName: string | RegExp; issuer: string }): ImagePolicy => ({
  keys: [],
  identities: [identity],
});

describe('keyless cosign signature layer (salrashid123/server_image, public-good)', () => {
  it('verifies against the expected identity and issuer, offline', () => {
    const finding = checkCosignSignature(storedSignature(), SERVER_IMAGE, policyFor(SERVER_IDENTITY), trust);
    assert.equal(finding.outcome, 'valid', finding.reason);
    assert.equal(finding.signer, SERVER_IDENTITY.subjectAlternativeName);
    assert.equal(finding.issuer, GITHUB);
    assert.deepEqual(
      finding.log?.map((l) => [l.logIndex, l.logId, l.inclusion]),
      [
        [
          1004096555,
          'c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d',
          ['signed-entry-timestamp'],
        ],
      ],
    );
  });

  it('accepts an identity pattern', () => {
    const pattern = { subjectAlternativeName: /^https:\/\/github\.com\/salrashid123\//, issuer: GITHUB };
    assert.equal(
      checkCosignSignature(storedSignature(), SERVER_IMAGE, policyFor(pattern), trust).outcome,
      'valid',
    );
  });

  it('does not count it for another identity or another issuer', () => {
    for (const identity of [
      { ...SERVER_IDENTITY, subjectAlternativeName: `${SERVER_IDENTITY.subjectAlternativeName}x` },
      { ...SERVER_IDENTITY, issuer: 'https://accounts.google.com' },
    ]) {
      const finding = checkCosignSignature(storedSignature(), SERVER_IMAGE, policyFor(identity), trust);
      assert.equal(finding.outcome, 'foreign');
      assert.match(finding.reason!, /salrashid123/);
    }
  });

  it('rejects it with one byte changed in the signature, the payload or the SET', () => {
    const sig = Buffer.from(layer.annotations['dev.cosignproject.cosign/signature']!, 'base64');
    sig[20]! ^= 1;
    const payloadChanged = Buffer.from(payload);
    payloadChanged[payloadChanged.indexOf('server_image')]! ^= 0x20;
    const bundle = parseRekorBundle(layer.annotations['dev.sigstore.cosign/bundle']!)!;
    const set = Buffer.from(bundle.SignedEntryTimestamp, 'base64');
    set[10]! ^= 1;
    for (const overrides of [
      { signature: sig.toString('base64') },
      { payload: payloadChanged },
      { bundle: { ...bundle, SignedEntryTimestamp: set.toString('base64') } },
      {
        bundle: {
          ...bundle,
          Payload: { ...bundle.Payload, integratedTime: bundle.Payload.integratedTime + 1 },
        },
      },
    ]) {
      const finding = checkCosignSignature(
        storedSignature(overrides),
        SERVER_IMAGE,
        policyFor(SERVER_IDENTITY),
        trust,
      );
      assert.equal(finding.outcome, 'invalid', JSON.stringify(Object.keys(overrides)));
    }
  });

  it('rejects it for another image digest or another repository', () => {
    const other = { ...SERVER_IMAGE, digest: `sha256:${'0'.repeat(64)}` };
    const wrongDigest = checkCosignSignature(storedSignature(), other, policyFor(SERVER_IDENTITY), trust);
    assert.equal(wrongDigest.outcome, 'invalid');
    assert.match(wrongDigest.reason!, /signs sha256:c05263/);
    const mirror = { ...SERVER_IMAGE, host: 'mirror.example' };
    assert.equal(
      checkCosignSignature(storedSignature(), mirror, policyFor(SERVER_IDENTITY), trust).outcome,
      'invalid',
    );
    const accepted = {
      ...policyFor(SERVER_IDENTITY),
      references: ['index.docker.io/salrashid123/server_image'],
    };
    assert.equal(checkCosignSignature(storedSignature(), mirror, accepted, trust).outcome, 'valid');
  });

  const mirrorSignature = mirrorServerSignature;
  const watchlistPolicy = {
    ...policyFor(SERVER_IDENTITY),
    references: ['index.docker.io/salrashid123/server_image'],
  };

  describe('read from a registry', () => {
    let testRegistry: TestRegistry;
    let registry: RegistryClient;
    before(async () => {
      testRegistry = await startRegistry();
      registry = new RegistryClient({ allowedHosts: [testRegistry.host] });
    });
    after(() => testRegistry.stop());

    it('finds the mirrored `.sig` manifest and verifies the image with the watchlist policy', async () => {
      const image = { ...SERVER_IMAGE, host: testRegistry.host };
      await mirrorSignature(registry, image);
      const verdict = await verifyImage({ registry, trust }, image, watchlistPolicy);
      assert.equal(verdict.status, 'valid', verdict.reasons.join('; '));
      const wrong = await verifyImage({ registry, trust }, image, {
        ...watchlistPolicy,
        identities: [{ ...SERVER_IDENTITY, issuer: 'https://accounts.google.com' }],
      });
      assert.equal(wrong.status, 'unsigned');
    });
  });

  describe('read from a registry that wants a token, as Docker Hub does', () => {
    let tokens: TokenServer;
    let testRegistry: TestRegistry;
    before(async () => {
      tokens = await startTokenServer();
      testRegistry = await startRegistry({ tokenAuth: tokens });
    });
    after(async () => {
      await testRegistry?.stop();
      await tokens?.stop();
    });

    it('verifies the image with the watchlist policy on anonymous pull tokens', async () => {
      const image = { ...SERVER_IMAGE, host: testRegistry.host };
      // Put there with a push token, as the image's publisher would.
      const scope = `repository:${image.repository}:pull,push`;
      const res = await fetch(`${tokens.realm}?service=${tokens.service}&scope=${scope}`, {
        headers: { authorization: `Basic ${Buffer.from(tokens.pushCredentials).toString('base64')}` },
      });
      const { token } = (await res.json()) as { token: string };
      await mirrorSignature(
        new RegistryClient({
          allowedHosts: [testRegistry.host],
          authorization: async () => `Bearer ${token}`,
        }),
        image,
      );

      tokens.requests.length = 0;
      const registry = new RegistryClient({
        allowedHosts: [testRegistry.host],
        redirectHosts: [tokens.host],
      });
      const verdict = await verifyImage({ registry, trust }, image, watchlistPolicy);
      assert.equal(verdict.status, 'valid', verdict.reasons.join('; '));
      assert.deepEqual(tokens.requests, [
        {
          service: tokens.service,
          scopes: [`repository:${image.repository}:pull`],
          authorization: undefined,
        },
      ]);
    });
  });
});

describe('keyless Sigstore bundles (public-good, DSSE)', () => {
  for (const [file, identity] of [
    [
      'sigstore-js-bundleV03-dsse.sigstore',
      { subjectAlternativeName: 'brian@dehamer.com', issuer: 'https://github.com/login/oauth' },
    ],
    [
      'sigstore-java-bundle.dsse.sigstore',
      {
        subjectAlternativeName:
          'https://github.com/loosebazooka/aa-test/.github/workflows/provenance.yaml@refs/heads/main',
        issuer: GITHUB,
      },
    ],
  ] as const) {
    it(`${file}: verifies for its identity, not for another, not with a byte changed`, () => {
      const bytes = fixture(file);
      const policy = policyFor(identity);
      const bundle = parseBundle(bytes);
      const claim = claimOf(bundle, policy);
      if (claim.kind !== 'identity') assert.fail(`claimed as ${claim.kind}`);
      const log = verifyClaimed(bundle, undefined, claim, policy, trust);
      assert.equal(log.length, 1);

      assert.equal(
        claimOf(bundle, policyFor({ ...identity, issuer: 'https://accounts.google.com' })).kind,
        'foreign',
      );
      assert.equal(
        claimOf(bundle, policyFor({ ...identity, subjectAlternativeName: 'someone@else' })).kind,
        'foreign',
      );

      const json = JSON.parse(bytes.toString('utf8'));
      const sig = Buffer.from(json.dsseEnvelope.signatures[0].sig, 'base64');
      sig[12]! ^= 1;
      json.dsseEnvelope.signatures[0].sig = sig.toString('base64');
      const tampered = parseBundle(Buffer.from(JSON.stringify(json)));
      assert.throws(() => verifyClaimed(tampered, undefined, claim, policy, trust), SignatureCheckError);
    });
  }
});

describe('keyless: the certificate a log entry records', () => {
  const JAVA_IDENTITY = {
    subjectAlternativeName:
      'https://github.com/loosebazooka/aa-test/.github/workflows/provenance.yaml@refs/heads/main',
    issuer: GITHUB,
  };
  const javaBundle = JSON.parse(fixture('sigstore-java-bundle.dsse.sigstore').toString('utf8'));
  const javaCertificate = Buffer.from(javaBundle.verificationMaterial.certificate.rawBytes, 'base64');
  const pem = (der: Buffer) =>
    `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----\n`;

  it('cosign layout: a certificate annotation other than the logged certificate is invalid', () => {
    const layer = storedSignature({ certificate: pem(javaCertificate), chain: undefined });
    const finding = checkCosignSignature(layer, SERVER_IMAGE, policyFor(JAVA_IDENTITY), trust);
    assert.equal(finding.outcome, 'invalid');
    assert.match(finding.reason!, /records another certificate, not the signature's certificate/);
  });

  it('bundle layout: a bundle certificate other than the logged one is invalid', () => {
    const json = JSON.parse(fixture('sigstore-js-bundleV03-dsse.sigstore').toString('utf8'));
    json.verificationMaterial.certificate.rawBytes = javaCertificate.toString('base64');
    const bundle = parseBundle(Buffer.from(JSON.stringify(json)));
    const policy = policyFor(JAVA_IDENTITY);
    const claim = claimOf(bundle, policy);
    if (claim.kind !== 'identity') assert.fail(`claimed as ${claim.kind}`);
    assert.throws(() => verifyClaimed(bundle, undefined, claim, policy, trust), LoggedSignerMismatchError);
  });
});

describe('keyless: an exact identity with regular-expression characters', () => {
  // @sigstore/verify matches subjectAlternativeName as a regular expression (dist/policy.js).
  for (const san of ['dev+ci@example.com', 'https://ci.example/a(b)/c?[d]*e|f^g$h{1}\\', 'a.b@example.com']) {
    it(`${san}: matches itself, and nothing else, as @sigstore/verify applies it`, () => {
      assert.doesNotThrow(() => verifySubjectAlternativeName(sanPolicyPattern(san), san));
      for (const other of [`x${san}`, `${san}x`, `${san}\n`, san.replace(/[.+(]/, 'X')]) {
        if (other === san) continue;
        assert.throws(
          () => verifySubjectAlternativeName(sanPolicyPattern(san), other),
          /certificate identity/,
        );
      }
    });
  }
});
