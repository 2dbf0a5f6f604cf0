import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { ensureSigningKey } from '../../../emulators/kms/setup.ts';
import { crc32c } from '../../../functions/signing/crc32c.ts';
import { createKmsClient } from '../../../functions/signing/kms-client.ts';
import { grpcCode, type Harness, LOCATION, PROJECT, startHarness } from './helpers.ts';

const ALGORITHMS: Array<{ algorithm: string; hash: 'sha256' | 'sha384' | 'sha512' | null; pss?: boolean }> = [
  { algorithm: 'EC_SIGN_P256_SHA256', hash: 'sha256' },
  { algorithm: 'EC_SIGN_P384_SHA384', hash: 'sha384' },
  { algorithm: 'RSA_SIGN_PKCS1_2048_SHA256', hash: 'sha256' },
  { algorithm: 'RSA_SIGN_PKCS1_3072_SHA256', hash: 'sha256' },
  { algorithm: 'RSA_SIGN_PKCS1_4096_SHA256', hash: 'sha256' },
  { algorithm: 'RSA_SIGN_PKCS1_4096_SHA512', hash: 'sha512' },
  { algorithm: 'RSA_SIGN_PSS_2048_SHA256', hash: 'sha256', pss: true },
  { algorithm: 'RSA_SIGN_PSS_3072_SHA256', hash: 'sha256', pss: true },
  { algorithm: 'RSA_SIGN_PSS_4096_SHA256', hash: 'sha256', pss: true },
  { algorithm: 'RSA_SIGN_PSS_4096_SHA512', hash: 'sha512', pss: true },
  { algorithm: 'EC_SIGN_ED25519', hash: null },
];

const DIGEST_LENGTH = { sha256: 32, sha384: 48, sha512: 64 };

function verifyWithNode(
  spec: (typeof ALGORITHMS)[number],
  pem: string,
  data: Buffer,
  signature: Buffer,
): boolean {
  if (spec.hash === null) return crypto.verify(null, data, pem, signature);
  if (spec.pss) {
    return crypto.verify(
      spec.hash,
      data,
      { key: pem, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: DIGEST_LENGTH[spec.hash] },
      signature,
    );
  }
  return crypto.verify(spec.hash, data, pem, signature);
}

describe('KMS emulator with the real @google-cloud/kms client', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.stop();
  });

  it('ensureSigningKey is idempotent and creates one ring, one key, one version', async () => {
    const spec = {
      project: PROJECT,
      location: LOCATION,
      keyRing: 'idem',
      key: 'k',
      algorithm: 'EC_SIGN_P256_SHA256',
    };
    const [first, second] = await Promise.all([
      ensureSigningKey(h.client, spec),
      ensureSigningKey(h.client, spec),
    ]);
    const third = await ensureSigningKey(h.client, spec);
    assert.equal(
      first,
      `projects/${PROJECT}/locations/${LOCATION}/keyRings/idem/cryptoKeys/k/cryptoKeyVersions/1`,
    );
    assert.equal(second, first);
    assert.equal(third, first);
    const [versions] = await h.client.listCryptoKeyVersions({
      parent: first.replace(/\/cryptoKeyVersions\/1$/, ''),
    });
    assert.deepEqual(
      versions.map((v) => v.name),
      [first],
    );
    await assert.rejects(
      ensureSigningKey(h.client, { ...spec, algorithm: 'EC_SIGN_P384_SHA384' }),
      /not ASYMMETRIC_SIGN EC_SIGN_P384_SHA384/,
    );
  });

  it('answers ALREADY_EXISTS and NOT_FOUND as Cloud KMS does', async () => {
    const parent = h.client.locationPath(PROJECT, LOCATION);
    await h.client.createKeyRing({ parent, keyRingId: 'dup', keyRing: {} });
    await assert.rejects(h.client.createKeyRing({ parent, keyRingId: 'dup', keyRing: {} }), (err) => {
      assert.equal(grpcCode(err), 6);
      assert.match(String((err as Error).message), /KeyRing projects\/.*\/keyRings\/dup already exists\./);
      return true;
    });
    const missing = h.client.cryptoKeyVersionPath(PROJECT, LOCATION, 'dup', 'nokey', '1');
    await assert.rejects(h.client.getPublicKey({ name: missing }), (err) => {
      assert.equal(grpcCode(err), 5);
      assert.match(
        String((err as Error).message),
        /CryptoKeyVersion .*nokey\/cryptoKeyVersions\/1 not found\./,
      );
      return true;
    });
    await assert.rejects(
      h.client.asymmetricSign({ name: 'projects/x', digest: { sha256: Buffer.alloc(32) } }),
      (err) => {
        assert.equal(grpcCode(err), 3);
        return true;
      },
    );
  });

  it('signs with every supported algorithm; each signature verifies with node crypto against GetPublicKey', async () => {
    const data = Buffer.from('{"critical":{"type":"cosign container image signature"}}');
    await Promise.all(
      ALGORITHMS.map(async (spec) => {
        const name = await ensureSigningKey(h.client, {
          project: PROJECT,
          location: LOCATION,
          keyRing: 'algs',
          key: spec.algorithm.toLowerCase().replaceAll('_', '-'),
          algorithm: spec.algorithm,
        });
        const [pub] = await h.client.getPublicKey({ name });
        assert.equal(pub.algorithm, spec.algorithm);
        assert.equal(pub.name, name);
        assert.equal(pub.protectionLevel, 'SOFTWARE');
        assert.equal(Number(pub.pemCrc32c?.value), crc32c(Buffer.from(pub.pem!, 'utf8')));

        const request =
          spec.hash === null
            ? { name, data, dataCrc32c: { value: crc32c(data) } }
            : (() => {
                const digest = crypto.createHash(spec.hash).update(data).digest();
                return { name, digest: { [spec.hash]: digest }, digestCrc32c: { value: crc32c(digest) } };
              })();
        const [res] = await h.client.asymmetricSign(request);
        const signature = Buffer.from(res.signature!);
        assert.equal(res.name, name, spec.algorithm);
        assert.equal(
          spec.hash === null ? res.verifiedDataCrc32c : res.verifiedDigestCrc32c,
          true,
          spec.algorithm,
        );
        assert.equal(Number(res.signatureCrc32c?.value), crc32c(signature), spec.algorithm);
        assert.ok(verifyWithNode(spec, pub.pem!, data, signature), `${spec.algorithm} signature verifies`);
        assert.ok(!verifyWithNode(spec, pub.pem!, Buffer.from('other data'), signature), spec.algorithm);
      }),
    );
  });

  it('refuses a digest of the wrong type or length, and a digest for Ed25519', async () => {
    const name = await ensureSigningKey(h.client, {
      project: PROJECT,
      location: LOCATION,
      keyRing: 'algs',
      key: 'ec-sign-p256-sha256',
      algorithm: 'EC_SIGN_P256_SHA256',
    });
    const ed = await ensureSigningKey(h.client, {
      project: PROJECT,
      location: LOCATION,
      keyRing: 'algs',
      key: 'ec-sign-ed25519',
      algorithm: 'EC_SIGN_ED25519',
    });
    for (const request of [
      { name, digest: { sha384: Buffer.alloc(48) } },
      { name, digest: { sha256: Buffer.alloc(20) } },
      { name },
      { name: ed, digest: { sha256: Buffer.alloc(32) } },
    ]) {
      await assert.rejects(h.client.asymmetricSign(request), (err) => grpcCode(err) === 3);
    }
  });

  it('rejects a request whose digest or data does not match its CRC32C (INVALID_ARGUMENT)', async () => {
    const name = await ensureSigningKey(h.client, {
      project: PROJECT,
      location: LOCATION,
      keyRing: 'crc',
      key: 'k',
      algorithm: 'EC_SIGN_P256_SHA256',
    });
    const digest = crypto.createHash('sha256').update('x').digest();
    await assert.rejects(
      h.client.asymmetricSign({
        name,
        digest: { sha256: digest },
        digestCrc32c: { value: crc32c(digest) ^ 1 },
      }),
      (err) => {
        assert.equal(grpcCode(err), 3);
        assert.match(
          String((err as Error).message),
          /The checksum in field digest_crc32c did not match the data in field digest\./,
        );
        return true;
      },
    );
    const [unchecked] = await h.client.asymmetricSign({ name, digest: { sha256: digest } });
    assert.equal(unchecked.verifiedDigestCrc32c, false);
  });

  it('disables and re-enables a version; a disabled version is refused with FAILED_PRECONDITION', async () => {
    const name = await ensureSigningKey(h.client, {
      project: PROJECT,
      location: LOCATION,
      keyRing: 'state',
      key: 'k',
      algorithm: 'EC_SIGN_P256_SHA256',
    });
    const [disabled] = await h.client.updateCryptoKeyVersion({
      cryptoKeyVersion: { name, state: 'DISABLED' },
      updateMask: { paths: ['state'] },
    });
    assert.equal(disabled.state, 'DISABLED');
    const [got] = await h.client.getCryptoKeyVersion({ name });
    assert.equal(got.state, 'DISABLED');
    const digest = crypto.createHash('sha256').update('x').digest();
    await assert.rejects(h.client.asymmetricSign({ name, digest: { sha256: digest } }), (err) => {
      assert.equal(grpcCode(err), 9);
      assert.match(String((err as Error).message), /is not enabled, current state is: DISABLED\./);
      return true;
    });
    await assert.rejects(h.client.getPublicKey({ name }), (err) => grpcCode(err) === 9);
    await assert.rejects(
      h.client.updateCryptoKeyVersion({
        cryptoKeyVersion: { name, state: 'ENABLED' },
        updateMask: { paths: [] },
      }),
      (err) => grpcCode(err) === 3,
    );
    // ensureSigningKey finds no enabled version and makes a new one.
    const replacement = await ensureSigningKey(h.client, {
      project: PROJECT,
      location: LOCATION,
      keyRing: 'state',
      key: 'k',
      algorithm: 'EC_SIGN_P256_SHA256',
    });
    assert.match(replacement, /cryptoKeyVersions\/2$/);
    await h.client.updateCryptoKeyVersion({
      cryptoKeyVersion: { name, state: 'ENABLED' },
      updateMask: { paths: ['state'] },
    });
    const [signed] = await h.client.asymmetricSign({ name, digest: { sha256: digest } });
    assert.equal(signed.name, name);
  });

  it('keeps keys, versions, states and private keys across a restart', async () => {
    const name = await ensureSigningKey(h.client, {
      project: PROJECT,
      location: LOCATION,
      keyRing: 'persist',
      key: 'k',
      algorithm: 'EC_SIGN_P384_SHA384',
    });
    const [before] = await h.client.getPublicKey({ name });
    const [second] = await h.client.createCryptoKeyVersion({
      parent: name.replace(/\/cryptoKeyVersions\/1$/, ''),
    });
    await h.client.updateCryptoKeyVersion({
      cryptoKeyVersion: { name: second.name, state: 'DISABLED' },
      updateMask: { paths: ['state'] },
    });
    const oldEndpoint = h.emulator.endpoint;
    await h.restart();
    assert.notEqual(h.emulator.endpoint, oldEndpoint);
    const [afterRestart] = await h.client.getPublicKey({ name });
    assert.equal(afterRestart.pem, before.pem);
    const [disabledVersion] = await h.client.getCryptoKeyVersion({ name: second.name! });
    assert.equal(disabledVersion.state, 'DISABLED');
    assert.equal(disabledVersion.algorithm, 'EC_SIGN_P384_SHA384');
    const data = Buffer.from('after restart');
    const digest = crypto.createHash('sha384').update(data).digest();
    const [res] = await h.client.asymmetricSign({ name, digest: { sha384: digest } });
    assert.ok(crypto.verify('sha384', data, afterRestart.pem!, Buffer.from(res.signature!)));
    assert.equal(
      await ensureSigningKey(h.client, {
        project: PROJECT,
        location: LOCATION,
        keyRing: 'persist',
        key: 'k',
        algorithm: 'EC_SIGN_P384_SHA384',
      }),
      name,
    );
  });

  it('injects UNAVAILABLE and delays, switchable over the admin HTTP port', async () => {
    const name = await ensureSigningKey(h.client, {
      project: PROJECT,
      location: LOCATION,
      keyRing: 'faults',
      key: 'k',
      algorithm: 'EC_SIGN_P256_SHA256',
    });
    const put = await fetch(`${h.emulator.adminUrl}/faults`, {
      method: 'PUT',
      body: JSON.stringify({ unavailable: 'always', unavailableMethods: ['GetPublicKey'] }),
    });
    assert.equal(put.status, 200);
    await assert.rejects(h.client.getPublicKey({ name }, { maxRetries: 0 }), (err) => {
      // With retries exhausted, gax reports the UNAVAILABLE it kept getting.
      assert.match(String((err as Error).message), /UNAVAILABLE/);
      return true;
    });
    // Only the named method is affected.
    await h.client.getCryptoKeyVersion({ name });
    assert.equal((await fetch(`${h.emulator.adminUrl}/faults`, { method: 'DELETE' })).status, 200);
    await h.client.getPublicKey({ name });
    // A delay far beyond the call deadline makes the call time out.
    h.emulator.faults.set({ delayMs: 5000, unavailableMethods: ['GetCryptoKeyVersion'] });
    await assert.rejects(h.client.getCryptoKeyVersion({ name }, { timeout: 100, maxRetries: 0 }), (err) => {
      assert.match(String((err as Error).message), /DEADLINE_EXCEEDED|Deadline|deadline/);
      return true;
    });
    h.emulator.faults.clear();
    const bad = await fetch(`${h.emulator.adminUrl}/faults`, { method: 'PUT', body: '{"unavailable":-1}' });
    assert.equal(bad.status, 400);
    const calls = (await (await fetch(`${h.emulator.adminUrl}/calls`)).json()) as Record<string, number>;
    assert.ok((calls['GetPublicKey'] ?? 0) >= 2);
  });
});

describe('KMS emulator CLI', () => {
  it('prints one ready line, serves the real client, and exits 0 on SIGTERM', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'sigsentry-kms-cli-'));
    const main = path.resolve(import.meta.dirname, '../../../emulators/kms/main.ts');
    const child = spawn(process.execPath, [main, '--port', '0', '--data-dir', dataDir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const lines = createInterface({ input: child.stdout! });
      const first = await new Promise<string>((resolve, reject) => {
        lines.once('line', resolve);
        child.once('exit', (code) => reject(new Error(`emulator exited with ${code} before it was ready`)));
      });
      const ready = JSON.parse(first) as { ready: boolean; endpoint: string; adminUrl: string };
      assert.equal(ready.ready, true);
      assert.match(ready.endpoint, /^127\.0\.0\.1:\d+$/);
      const client = createKmsClient({ endpoint: ready.endpoint });
      const name = await ensureSigningKey(client, {
        project: PROJECT,
        location: LOCATION,
        keyRing: 'cli',
        key: 'k',
        algorithm: 'EC_SIGN_P256_SHA256',
      });
      assert.match(name, /cryptoKeyVersions\/1$/);
      await client.close();
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
