import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DSSEBundleBuilder } from '@sigstore/sign';
import { InvalidInputError } from '../../../functions/errors.ts';
import { LocalSigner } from '../../../functions/signing/local-signer.ts';

// PEM strings, as a key file holds them.
function pem(pair: crypto.KeyPairKeyObjectResult): { privateKey: string; publicKey: string } {
  return {
    privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

describe('LocalSigner', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sigsentry-local-signer-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const cases = [
    {
      label: 'ECDSA P-256',
      pair: () => pem(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })),
      hash: 'sha256',
    },
    {
      label: 'ECDSA P-384',
      pair: () => pem(crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' })),
      hash: 'sha384',
    },
    {
      label: 'RSA 2048',
      pair: () => pem(crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })),
      hash: 'sha256',
    },
    { label: 'Ed25519', pair: () => pem(crypto.generateKeyPairSync('ed25519')), hash: null },
  ];

  for (const c of cases) {
    it(`signs with ${c.label} from a PEM file; the signature verifies with the reported public key`, async () => {
      const { privateKey, publicKey } = c.pair();
      const file = path.join(dir, `${c.label.replaceAll(' ', '-')}.pem`);
      await writeFile(file, privateKey, { mode: 0o600 });
      const signer = await LocalSigner.fromFile(file);
      const data = Buffer.from('simple signing payload');
      const sig = await signer.sign(data);
      assert.equal(sig.key.$case, 'publicKey');
      assert.equal(sig.key.$case === 'publicKey' ? sig.key.publicKey : '', publicKey);
      assert.ok(crypto.verify(c.hash, data, publicKey, sig.signature));
      assert.ok(!crypto.verify(c.hash, Buffer.from('other'), publicKey, sig.signature));
    });
  }

  it('signs RSA-PSS when asked, with a digest-length salt', async () => {
    const { privateKey, publicKey } = pem(crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }));
    const signer = new LocalSigner(privateKey, { rsaPadding: 'pss' });
    const data = Buffer.from('x');
    const { signature } = await signer.sign(data);
    const pss = { key: publicKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
    assert.ok(crypto.verify('sha256', data, pss, signature));
    assert.ok(!crypto.verify('sha256', data, publicKey, signature));
  });

  it('refuses what is not a usable signing key', () => {
    assert.throws(() => new LocalSigner('not a key'), InvalidInputError);
    const weak = pem(crypto.generateKeyPairSync('rsa', { modulusLength: 1024 })).privateKey;
    assert.throws(() => new LocalSigner(weak), /shorter than 2048/);
    const x25519 = pem(crypto.generateKeyPairSync('x25519')).privateKey;
    assert.throws(() => new LocalSigner(x25519), /unsupported private key type x25519/);
  });

  it('produces a DSSE bundle through @sigstore/sign', async () => {
    const { privateKey, publicKey } = pem(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }));
    const signer = new LocalSigner(privateKey);
    const bundle = await new DSSEBundleBuilder({ signer, witnesses: [] }).create({
      data: Buffer.from('{}'),
      type: 'application/vnd.in-toto+json',
    });
    assert.equal(bundle.content.$case, 'dsseEnvelope');
    if (bundle.content.$case === 'dsseEnvelope') {
      const pae = Buffer.from('DSSEv1 28 application/vnd.in-toto+json 2 {}');
      assert.ok(crypto.verify('sha256', pae, publicKey, bundle.content.dsseEnvelope.signatures[0]!.sig));
    }
  });
});
