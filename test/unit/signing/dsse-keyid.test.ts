/**
 * The DSSE keyid of the Sigstore bundles signOnPush attaches, judged by the rule cosign 3 and sigstore-go
 * apply. sigstore-go (pkg/verify/signature.go verifyEnvelope) verifies the envelope through
 * go-securesystemslib dsse/verify.go with a verifier that has no key ID, so the key ID compared is
 * SHA256KeyID(pub) = ssh.FingerprintSHA256(ssh.NewPublicKey(pub)), and a signature is skipped when
 * `s.KeyID != "" && keyID != "" && s.KeyID != keyID`; with its only signature skipped the envelope fails
 * ("Accepted signatures do not match threshold"). Until 2026-12-03 sigsentry's keyid was base64 SHA-256 of
 * the DER key, and every bundle it attached failed so (found by review).
 *
 * The bundles come from the real signing path: the signOnPush core with a local key, and the core as
 * the function wires it with the KMS emulator (P-256 and RSA), each logged in the Rekor emulator and
 * attached to docker-registry.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { RekorWitness } from '@sigstore/sign';
import { ensureSigningKey } from '../../../emulators/kms/setup.ts';
import { InProcessSubjectLock } from '../../../functions/attach/lock.ts';
import { listBundleReferrers, readBundleReferrer } from '../../../functions/attach/referrer.ts';
import { toNotification } from '../../../functions/events/gcr-message.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import type { DigestReference } from '../../../functions/registry/reference.ts';
import { createSignOnPush } from '../../../functions/sign-on-push/core.ts';
import { signOnPushDepsFromEnv } from '../../../functions/sign-on-push/from-env.ts';
import { expectedKeyFromPem } from '../../../functions/verify/policy.ts';
import { logKey } from '../../../functions/verify/trust.ts';
import { verifyImage } from '../../../functions/verify/verifier.ts';
import { OPENSSH_P256, OPENSSH_RSA } from '../../helpers/openssh-vectors.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';
import { gcrEvent, MemorySigningStore, signOnPushCore } from '../../helpers/sign-on-push-core.ts';
import { type Harness, LOCATION, PROJECT, startHarness } from '../kms/helpers.ts';

// --- golang.org/x/crypto/ssh, written out here apart from functions/signing/key-hint.ts -------------

function wireString(bytes: Buffer): Buffer {
  const out = Buffer.alloc(4 + bytes.length);
  out.writeUInt32BE(bytes.length);
  bytes.copy(out, 4);
  return out;
}

/** ssh.Marshal of a positive *big.Int: big-endian magnitude, 0x00 first if its top bit is set. */
function wireBigInt(value: bigint): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  if (Number.parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`;
  return wireString(Buffer.from(hex, 'hex'));
}

/** go-securesystemslib dsse.SHA256KeyID for the keys sigsentry signs with (ECDSA P-256, RSA). */
function goSha256KeyId(pem: string): string {
  const key = crypto.createPublicKey(pem);
  const jwk = key.export({ format: 'jwk' });
  let wire: Buffer;
  if (key.asymmetricKeyType === 'ec' && jwk.crv === 'P-256') {
    const point = Buffer.concat([
      Buffer.from([4]),
      Buffer.from(jwk.x!, 'base64url'),
      Buffer.from(jwk.y!, 'base64url'),
    ]);
    wire = Buffer.concat([
      wireString(Buffer.from('ecdsa-sha2-nistp256')),
      wireString(Buffer.from('nistp256')),
      wireString(point),
    ]);
  } else if (key.asymmetricKeyType === 'rsa') {
    const big = (b64: string) => BigInt(`0x${Buffer.from(b64, 'base64url').toString('hex')}`);
    wire = Buffer.concat([
      wireString(Buffer.from('ssh-rsa')),
      wireBigInt(big(jwk.e!)),
      wireBigInt(big(jwk.n!)),
    ]);
  } else {
    throw new Error(`test has no SSH encoding for ${key.asymmetricKeyType}`);
  }
  return `SHA256:${crypto.createHash('sha256').update(wire).digest('base64').replace(/=+$/, '')}`;
}

/** dsse/verify.go: whether the signature with this keyid is checked at all (rather than skipped). */
function goChecksSignature(keyid: string, pem: string): boolean {
  const keyID = goSha256KeyId(pem);
  return !(keyid !== '' && keyID !== '' && keyid !== keyID);
}

// ----------------------------------------------------------------------------------------------------

interface AttachedBundle {
  keyid: string;
  hint: string;
  /** The signing key as the log entry records it (dsse 0.0.1 spec.signatures[0].verifier). */
  loggedPem: string;
}

async function attachedBundle(registry: RegistryClient, image: DigestReference): Promise<AttachedBundle> {
  const { descriptors } = await listBundleReferrers(registry, image);
  assert.equal(descriptors.length, 1);
  const { bundle } = await readBundleReferrer(registry, image, descriptors[0]!);
  const json = JSON.parse(Buffer.from(bundle).toString('utf8'));
  const entry = json.verificationMaterial.tlogEntries[0];
  assert.equal(entry.kindVersion.kind, 'dsse');
  const body = JSON.parse(Buffer.from(entry.canonicalizedBody, 'base64').toString('utf8'));
  assert.equal(json.dsseEnvelope.signatures.length, 1);
  return {
    keyid: json.dsseEnvelope.signatures[0].keyid ?? '',
    hint: json.verificationMaterial.publicKey.hint,
    loggedPem: Buffer.from(body.spec.signatures[0].verifier, 'base64').toString('utf8'),
  };
}

describe("the test's SHA256KeyID agrees with real key IDs", () => {
  // OpenSSH's own fingerprints of the key types sigsentry signs with.
  for (const vector of [OPENSSH_P256, OPENSSH_RSA]) {
    it(`OpenSSH's fingerprint (${vector.name})`, () => {
      assert.equal(goSha256KeyId(vector.pem), vector.fingerprint);
    });
  }
});

describe('bundles signOnPush attaches pass the DSSE keyid rule of sigstore-go and cosign 3', () => {
  let reg: TestRegistry;
  let log: TestLog;
  let kms: Harness;
  let registry: RegistryClient;

  before(async () => {
    [reg, log, kms] = await Promise.all([
      startRegistry(),
      startTestLog('dsse-keyid-rekor', { unrelatedFirstEntry: true }),
      startHarness(),
    ]);
    registry = new RegistryClient({ allowedHosts: [reg.host] });
  });
  after(async () => {
    await reg?.stop();
    await log?.stop();
    await kms?.stop();
  });

  const trust = () => ({ logs: [logKey(log.rekor.url, log.rekor.publicKeyPem)] });

  it('the signOnPush core with a local key', async () => {
    const pushed = await reg.pushImage('team/local', 'v1');
    const image = { host: reg.host, repository: 'team/local', digest: pushed.digest };
    const core = signOnPushCore(registry, reg.host, {
      formats: ['bundle'],
      witness: new RekorWitness({ rekorBaseURL: log.rekor.url, entryType: 'dsse', fetchOnConflict: true }),
    });
    await core.entry(gcrEvent({ action: 'INSERT', digest: `${reg.host}/team/local@${pushed.digest}` }));
    assert.deepEqual(core.raised, []);

    const attached = await attachedBundle(registry, image);
    assert.ok(
      goChecksSignature(attached.keyid, attached.loggedPem),
      `keyid ${attached.keyid} is skipped: sigstore-go wants "" or ${goSha256KeyId(attached.loggedPem)}`,
    );
    assert.equal(attached.keyid, goSha256KeyId(attached.loggedPem));
    assert.equal(attached.hint, attached.keyid);

    // And sigsentry's own verifier accepts it.
    const policy = { keys: [expectedKeyFromPem(attached.loggedPem)], identities: [] };
    const verdict = await verifyImage({ registry, trust: trust() }, image, policy);
    assert.equal(verdict.status, 'valid', verdict.reasons.join('; '));
  });

  for (const algorithm of ['EC_SIGN_P256_SHA256', 'RSA_SIGN_PKCS1_2048_SHA256']) {
    it(`the signOnPush core as the function wires it, with a KMS key version of ${algorithm}`, async () => {
      const keyVersion = await ensureSigningKey(kms.client, {
        project: PROJECT,
        location: LOCATION,
        keyRing: 'dsse-keyid',
        key: algorithm.toLowerCase().replaceAll('_', '-'),
        algorithm,
      });
      const repository = `kms/${algorithm.toLowerCase()}`;
      const deps = signOnPushDepsFromEnv({
        GCP_PROJECT: 'p',
        SIGSENTRY_WATCH: `${reg.host}/${repository}`,
        SIGSENTRY_FORMATS: 'bundle',
        KMS_KEY: keyVersion,
        KMS_ENDPOINT: kms.emulator.endpoint,
        REKOR_URL: log.rekor.url,
        REKOR_PUBLIC_KEY: log.rekor.publicKeyPem,
      });
      const signOnPush = createSignOnPush({
        ...deps,
        registry,
        store: new MemorySigningStore(),
        lock: new InProcessSubjectLock(),
        alerts: { raise: async () => {}, resolve: async () => {} },
        instanceId: 'unit',
      });
      const pushed = await reg.pushImage(repository, 'v1');
      const image = { host: reg.host, repository, digest: pushed.digest };
      await signOnPush.handle(
        toNotification({ action: 'INSERT', digest: `${reg.host}/${repository}@${pushed.digest}` }),
        { logger: createMemoryLogger(), messageId: `m-${algorithm}` },
      );

      const attached = await attachedBundle(registry, image);
      const [kmsKey] = await kms.client.getPublicKey({ name: keyVersion });
      assert.ok(crypto.createPublicKey(attached.loggedPem).equals(crypto.createPublicKey(kmsKey.pem!)));
      assert.ok(
        goChecksSignature(attached.keyid, attached.loggedPem),
        `keyid ${attached.keyid} is skipped: sigstore-go wants "" or ${goSha256KeyId(attached.loggedPem)}`,
      );
      assert.equal(attached.keyid, goSha256KeyId(attached.loggedPem));
      assert.equal(attached.hint, attached.keyid);

      const policy = { keys: [expectedKeyFromPem(kmsKey.pem!, keyVersion)], identities: [] };
      const verdict = await verifyImage({ registry, trust: trust() }, image, policy);
      assert.equal(verdict.status, 'valid', verdict.reasons.join('; '));
    });
  }
});
