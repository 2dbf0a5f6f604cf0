/**
 * The key hint sigsentry signs with (signing/key-hint.ts): ssh.FingerprintSHA256 of the key, which
 * go-securesystemslib's dsse.SHA256KeyID computes and sigstore-go compares a DSSE keyid with. Checked
 * against a real key-signed bundle (sigstore-go's npm publish example, whose keyid is that fingerprint)
 * and against OpenSSH's own fingerprints (`ssh-keygen -l -E sha256`) of keys it generated.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  keyHints,
  legacyKeyHint,
  sshKeyId,
  sshMpint,
  sshPublicKeyWire,
} from '../../../functions/signing/key-hint.ts';

import { OPENSSH_VECTORS } from '../../helpers/openssh-vectors.ts';

const FIXTURES = `${import.meta.dirname}/fixtures`;

describe('the key hint: the SSH SHA-256 fingerprint sigstore-go expects as a DSSE keyid', () => {
  test("equals the keyid of a real key-signed bundle (sigstore-go's npm publish example)", () => {
    const bundle = JSON.parse(readFileSync(`${FIXTURES}/sigstore-go-bundle-publish.sigstore`, 'utf8'));
    const key = crypto.createPublicKey(readFileSync(`${FIXTURES}/sigstore-go-publish_key.pub`, 'utf8'));
    assert.equal(
      bundle.dsseEnvelope.signatures[0].keyid,
      'SHA256:jl3bwswu80PjjokCgh0o2w5c2U4LhQAE57gj9cz1kzA',
    );
    assert.equal(sshKeyId(key), bundle.dsseEnvelope.signatures[0].keyid);
    assert.equal(bundle.verificationMaterial.publicKey.hint, sshKeyId(key));
  });

  for (const vector of OPENSSH_VECTORS) {
    test(`equals OpenSSH's fingerprint (${vector.name})`, () => {
      assert.equal(sshKeyId(crypto.createPublicKey(vector.pem)), vector.fingerprint);
    });
  }

  test('P-256 wire format: string "ecdsa-sha2-nistp256", string "nistp256", string 0x04||X||Y (RFC 5656 3.1)', () => {
    const key = crypto.createPublicKey(OPENSSH_VECTORS[1]!.pem);
    const spki = key.export({ type: 'spki', format: 'der' });
    const point = spki.subarray(spki.length - 65); // the uncompressed point ends the SPKI
    assert.equal(point[0], 0x04);
    const expected = Buffer.concat([
      Buffer.from([0, 0, 0, 19]),
      Buffer.from('ecdsa-sha2-nistp256'),
      Buffer.from([0, 0, 0, 8]),
      Buffer.from('nistp256'),
      Buffer.from([0, 0, 0, 65]),
      point,
    ]);
    assert.deepEqual(sshPublicKeyWire(key), expected);
  });

  test('an EC key given with a compressed point has the same fingerprint as uncompressed', () => {
    const { publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const x = Buffer.from(jwk.x!, 'base64url');
    const y = Buffer.from(jwk.y!, 'base64url');
    const compressed = Buffer.concat([Buffer.from([0x02 | (y[y.length - 1]! & 1)]), x]);
    const header = Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex');
    const other = crypto.createPublicKey({
      key: Buffer.concat([header, compressed]),
      format: 'der',
      type: 'spki',
    });
    assert.ok(other.equals(publicKey));
    assert.equal(sshKeyId(other), sshKeyId(publicKey));
  });

  test('RFC 4251 mpint: zero is empty, a set high bit gets a 0x00, leading zeros go', () => {
    assert.deepEqual(sshMpint(Buffer.from([])), Buffer.from([0, 0, 0, 0]));
    assert.deepEqual(sshMpint(Buffer.from([0, 0])), Buffer.from([0, 0, 0, 0]));
    assert.deepEqual(sshMpint(Buffer.from([0x80])), Buffer.from([0, 0, 0, 2, 0, 0x80]));
    assert.deepEqual(sshMpint(Buffer.from([0, 0, 0x7f])), Buffer.from([0, 0, 0, 1, 0x7f]));
    assert.deepEqual(
      sshMpint(Buffer.from('09a378f9b2e332a7', 'hex')),
      Buffer.from('0000000809a378f9b2e332a7', 'hex'),
    );
    assert.deepEqual(sshMpint(Buffer.from([1, 0, 1])), Buffer.from([0, 0, 0, 3, 1, 0, 1]));
  });

  test('keyHints lists the new form and the legacy base64 SHA-256 of the DER key', () => {
    const key = crypto.createPublicKey(OPENSSH_VECTORS[0]!.pem);
    const legacy = crypto
      .createHash('sha256')
      .update(key.export({ type: 'spki', format: 'der' }))
      .digest('base64');
    assert.equal(legacyKeyHint(key.export({ type: 'spki', format: 'der' })), legacy);
    assert.deepEqual(keyHints(key), [OPENSSH_VECTORS[0]!.fingerprint, legacy]);
  });
});
