import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { isBundleWithPublicKey } from '@sigstore/bundle';
import { DSSEBundleBuilder, MessageSignatureBundleBuilder } from '@sigstore/sign';
import { ensureSigningKey } from '../../../emulators/kms/setup.ts';
import { DependencyError, isRetryable } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { KmsIntegrityError, KmsKeyUnusableError } from '../../../functions/signing/errors.ts';
import { KmsSigner, keyVersionState } from '../../../functions/signing/kms-signer.ts';
import { type Harness, LOCATION, PROJECT, startHarness } from './helpers.ts';

const NO_RETRY = { maxRetries: 0, timeout: 5000 };

function preAuthEncoding(type: string, payload: Buffer): Buffer {
  const prefix = `DSSEv1 ${Buffer.byteLength(type)} ${type} ${payload.length} `;
  return Buffer.concat([Buffer.from(prefix), payload]);
}

describe('KmsSigner against the KMS emulator', () => {
  let h: Harness;
  let p256: string;
  let rsa: string;
  let ed25519: string;

  const key = (keyRing: string, k: string, algorithm: string) =>
    ensureSigningKey(h.client, { project: PROJECT, location: LOCATION, keyRing, key: k, algorithm });

  before(async () => {
    h = await startHarness();
    [p256, rsa, ed25519] = await Promise.all([
      key('signer', 'p256', 'EC_SIGN_P256_SHA256'),
      key('signer', 'rsa', 'RSA_SIGN_PKCS1_2048_SHA256'),
      key('signer', 'ed25519', 'EC_SIGN_ED25519'),
    ]);
  });
  beforeEach(() => h.emulator.faults.clear());
  after(async () => {
    await h.stop();
  });

  const signerFor = (keyVersion: string, extra: Partial<ConstructorParameters<typeof KmsSigner>[0]> = {}) =>
    new KmsSigner({ client: h.newClient(), keyVersion, callOptions: NO_RETRY, ...extra });

  it('signs data; the signature verifies with the public key it reports', async () => {
    for (const [name, hash] of [
      [p256, 'sha256'],
      [rsa, 'sha256'],
    ] as const) {
      const signer = signerFor(name);
      const data = Buffer.from(`payload for ${name}`);
      const sig = await signer.sign(data);
      assert.equal(sig.key.$case, 'publicKey');
      const pem = sig.key.$case === 'publicKey' ? sig.key.publicKey : '';
      const [pub] = await h.client.getPublicKey({ name });
      assert.equal(pem, pub.pem);
      const options = name === rsa ? { key: pem, padding: crypto.constants.RSA_PKCS1_PADDING } : { key: pem };
      assert.ok(crypto.verify(hash, data, options, sig.signature), name);
    }
  });

  it('fetches the public key once per key version', async () => {
    const signer = signerFor(p256);
    const before = h.emulator.faults.calls['GetPublicKey'] ?? 0;
    await Promise.all([
      signer.sign(Buffer.from('a')),
      signer.sign(Buffer.from('b')),
      signer.sign(Buffer.from('c')),
    ]);
    await signer.sign(Buffer.from('d'));
    assert.equal((h.emulator.faults.calls['GetPublicKey'] ?? 0) - before, 1);
  });

  const CHECK = {
    wrongSignatureCrc32c: 'signatureCrc32c',
    wrongVerifiedDigestCrc32c: 'verifiedDigestCrc32c',
    wrongName: 'name',
    corruptSignature: 'signature',
  } as const;
  for (const fault of Object.keys(CHECK) as Array<keyof typeof CHECK>) {
    it(`discards a response with ${fault}, retries, and succeeds once it heals`, async () => {
      const logger = createMemoryLogger();
      const signer = signerFor(p256, { logger });
      await signer.publicKey();
      const before = h.emulator.faults.calls['AsymmetricSign'] ?? 0;
      h.emulator.faults.set({ [fault]: 1 });
      const data = Buffer.from('x');
      const sig = await signer.sign(data);
      assert.ok(crypto.verify('sha256', data, (await signer.publicKey()).pem, sig.signature));
      assert.equal((h.emulator.faults.calls['AsymmetricSign'] ?? 0) - before, 2);
      assert.equal(logger.entries.filter((e) => e.severity === 'WARNING').length, 1);
    });

    it(`raises a retryable KmsIntegrityError while ${fault} persists`, async () => {
      const signer = signerFor(p256, { integrityAttempts: 2 });
      h.emulator.faults.set({ [fault]: 'always' });
      await assert.rejects(signer.sign(Buffer.from('x')), (err) => {
        assert.ok(err instanceof KmsIntegrityError, String(err));
        assert.equal(err.retryable, true);
        assert.equal(err.details['keyVersion'], p256);
        assert.equal(err.details['check'], CHECK[fault]);
        return true;
      });
    });
  }

  it('reads an Ed25519 key version but never signs with it (not a signing algorithm of sigsentry)', async () => {
    const signer = signerFor(ed25519);
    assert.equal((await signer.publicKey()).algorithm.name, 'EC_SIGN_ED25519');
    const before = h.emulator.faults.calls['AsymmetricSign'] ?? 0;
    await assert.rejects(signer.sign(Buffer.from('x')), (err) => {
      assert.ok(err instanceof KmsKeyUnusableError, String(err));
      assert.equal(err.details['algorithm'], 'EC_SIGN_ED25519');
      return true;
    });
    assert.equal((h.emulator.faults.calls['AsymmetricSign'] ?? 0) - before, 0);
  });

  it('refuses a public key whose pemCrc32c does not match', async () => {
    const signer = signerFor(p256, { integrityAttempts: 1 });
    h.emulator.faults.set({ wrongPemCrc32c: 1 });
    await assert.rejects(signer.sign(Buffer.from('x')), (err) => {
      assert.ok(err instanceof KmsIntegrityError);
      assert.equal(err.details['check'], 'pem_crc32c');
      return true;
    });
    // The failed fetch is not cached: the next call fetches again and succeeds.
    await signer.sign(Buffer.from('x'));
  });

  it('turns UNAVAILABLE into a retryable DependencyError naming the key version', async () => {
    const signer = signerFor(p256);
    h.emulator.faults.set({ unavailable: 'always' });
    await assert.rejects(signer.sign(Buffer.from('x')), (err) => {
      assert.ok(err instanceof DependencyError, String(err));
      assert.equal(isRetryable(err), true);
      assert.equal(err.details['keyVersion'], p256);
      assert.equal(err.details['dependency'], 'kms');
      return true;
    });
  });

  it('rides out a transient UNAVAILABLE with the client library retries', async () => {
    const signer = signerFor(p256, { callOptions: { maxRetries: 3, timeout: 5000 } });
    h.emulator.faults.set({ unavailable: 2 });
    const sig = await signer.sign(Buffer.from('x'));
    assert.ok(sig.signature.length > 0);
  });

  it('refuses a disabled or destroyed key version with a non-retryable error', async () => {
    const name = await key('signer', 'to-disable', 'EC_SIGN_P256_SHA256');
    const signer = signerFor(name);
    await signer.sign(Buffer.from('enabled'));
    await h.client.updateCryptoKeyVersion({
      cryptoKeyVersion: { name, state: 'DISABLED' },
      updateMask: { paths: ['state'] },
    });
    assert.equal(await keyVersionState(h.client, name), 'DISABLED');
    await assert.rejects(signer.sign(Buffer.from('disabled')), (err) => {
      assert.ok(err instanceof KmsKeyUnusableError, String(err));
      assert.equal(err.retryable, false);
      assert.equal(err.details['keyVersion'], name);
      assert.equal(err.details['state'], 'DISABLED');
      return true;
    });
    await h.client.destroyCryptoKeyVersion({ name });
    assert.equal(await keyVersionState(h.client, name), 'DESTROY_SCHEDULED');
    await assert.rejects(signerFor(name).sign(Buffer.from('destroyed')), (err) => {
      assert.ok(err instanceof KmsKeyUnusableError);
      assert.equal(err.details['state'], 'DESTROY_SCHEDULED');
      return true;
    });
  });

  it('refuses a key version whose algorithm is not a signing algorithm', async () => {
    const [ring] = await h.client.getKeyRing({ name: h.client.keyRingPath(PROJECT, LOCATION, 'signer') });
    await h.client.createCryptoKey({
      parent: ring.name!,
      cryptoKeyId: 'decrypt',
      cryptoKey: {
        purpose: 'ASYMMETRIC_DECRYPT',
        versionTemplate: { algorithm: 'RSA_DECRYPT_OAEP_2048_SHA256' },
      },
    });
    const name = h.client.cryptoKeyVersionPath(PROJECT, LOCATION, 'signer', 'decrypt', '1');
    const before = h.emulator.faults.calls['AsymmetricSign'] ?? 0;
    await assert.rejects(signerFor(name).sign(Buffer.from('x')), (err) => {
      assert.ok(err instanceof KmsKeyUnusableError);
      assert.equal(err.details['algorithm'], 'RSA_DECRYPT_OAEP_2048_SHA256');
      return true;
    });
    assert.equal((h.emulator.faults.calls['AsymmetricSign'] ?? 0) - before, 0);
  });

  it('refuses a missing key version and a malformed name without retrying', async () => {
    const missing = h.client.cryptoKeyVersionPath(PROJECT, LOCATION, 'signer', 'p256', '99');
    await assert.rejects(signerFor(missing).sign(Buffer.from('x')), (err) => {
      assert.ok(err instanceof KmsKeyUnusableError);
      assert.equal(err.retryable, false);
      return true;
    });
    assert.throws(() => signerFor('projects/p/cryptoKeys/k'), KmsKeyUnusableError);
  });

  it('plugs into MessageSignatureBundleBuilder and DSSEBundleBuilder', async () => {
    const signer = signerFor(p256);
    const { pem, hint } = await signer.publicKey();

    const artifact = Buffer.from('{"critical":{}}');
    const messageBundle = await new MessageSignatureBundleBuilder({ signer, witnesses: [] }).create({
      data: artifact,
    });
    assert.ok(isBundleWithPublicKey(messageBundle));
    assert.equal(messageBundle.verificationMaterial.content.publicKey.hint, hint);
    assert.equal(messageBundle.content.$case, 'messageSignature');
    if (messageBundle.content.$case === 'messageSignature') {
      const ms = messageBundle.content.messageSignature;
      assert.deepEqual(ms.messageDigest?.digest, crypto.createHash('sha256').update(artifact).digest());
      assert.ok(crypto.verify('sha256', artifact, pem, ms.signature));
    }

    const statement = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [] }));
    const type = 'application/vnd.in-toto+json';
    const dsseBundle = await new DSSEBundleBuilder({ signer, witnesses: [] }).create({
      data: statement,
      type,
    });
    assert.equal(dsseBundle.content.$case, 'dsseEnvelope');
    if (dsseBundle.content.$case === 'dsseEnvelope') {
      const env = dsseBundle.content.dsseEnvelope;
      assert.equal(env.payloadType, type);
      assert.deepEqual(env.payload, statement);
      assert.equal(env.signatures.length, 1);
      assert.equal(env.signatures[0]!.keyid, hint);
      assert.ok(crypto.verify('sha256', preAuthEncoding(type, statement), pem, env.signatures[0]!.sig));
    }
  });
});
