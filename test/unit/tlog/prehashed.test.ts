import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import { verifyPrehashed } from '../../../functions/tlog/crypto/prehashed.ts';

describe('verifyPrehashed', () => {
  const msg = Buffer.from('the artifact');
  for (const [curve, alg] of [
    ['P-256', 'sha256'],
    ['P-384', 'sha384'],
    ['P-521', 'sha512'],
  ] as const) {
    it(`ECDSA ${curve}/${alg}: a real signature verifies from the digest alone; a wrong one does not`, () => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
      const digest = createHash(alg).update(msg).digest();
      for (let i = 0; i < 5; i++) {
        const sig = sign(alg, msg, privateKey);
        assert.equal(verifyPrehashed(publicKey, alg, digest, sig), true);
        const badDigest = Buffer.from(digest);
        badDigest[0] = badDigest[0]! ^ 1;
        assert.equal(verifyPrehashed(publicKey, alg, badDigest, sig), false);
        const badSig = Buffer.from(sig);
        badSig[badSig.length - 1] = badSig[badSig.length - 1]! ^ 1;
        assert.equal(verifyPrehashed(publicKey, alg, digest, badSig), false);
      }
      const other = generateKeyPairSync('ec', { namedCurve: curve });
      assert.equal(verifyPrehashed(other.publicKey, alg, digest, sign(alg, msg, privateKey)), false);
    });
  }

  it('RSA PKCS#1 v1.5', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const digest = createHash('sha256').update(msg).digest();
    const sig = sign('sha256', msg, privateKey);
    assert.equal(verifyPrehashed(publicKey, 'sha256', digest, sig), true);
    assert.equal(verifyPrehashed(publicKey, 'sha256', createHash('sha256').update('x').digest(), sig), false);
    assert.equal(verifyPrehashed(publicKey, 'sha384', digest, sig), false);
  });
});
