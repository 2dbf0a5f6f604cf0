import { type KeyObject, sign } from 'node:crypto';

/** Minimal DER writer: enough for one self-signed ECDSA P-256 certificate in tests. */
function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  const len =
    body.length < 0x80
      ? Buffer.from([body.length])
      : body.length < 0x100
        ? Buffer.from([0x81, body.length])
        : Buffer.from([0x82, body.length >> 8, body.length & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

const ECDSA_SHA256 = der(0x30, Buffer.from('06082a8648ce3d040302', 'hex'));
const name = (cn: string): Buffer =>
  der(0x30, der(0x31, der(0x30, Buffer.from('0603550403', 'hex'), der(0x0c, Buffer.from(cn)))));

/**
 * A self-signed X.509 v3 certificate (DER) for an ECDSA P-256 key pair: rekor-tiles and
 * sigstore-js both want a real certificate where a certificate is named.
 */
export function selfSignedCertificate(
  publicKey: KeyObject,
  privateKey: KeyObject,
  cn = 'sigsentry test',
): Buffer {
  const tbs = der(
    0x30,
    der(0xa0, der(0x02, Buffer.from([2]))),
    der(0x02, Buffer.from([0x01, 0x23, 0x45])),
    ECDSA_SHA256,
    name(cn),
    der(0x30, der(0x17, Buffer.from('250101000000Z')), der(0x17, Buffer.from('450101000000Z'))),
    name(cn),
    publicKey.export({ format: 'der', type: 'spki' }),
  );
  const signature = sign('sha256', tbs, privateKey);
  return der(0x30, tbs, ECDSA_SHA256, der(0x03, Buffer.from([0]), signature));
}

export function toPem(certDer: Buffer): string {
  const lines = certDer
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n');
  return `-----BEGIN CERTIFICATE-----\n${lines}\n-----END CERTIFICATE-----\n`;
}
