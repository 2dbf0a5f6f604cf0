import { createHash, type KeyObject, sign } from 'node:crypto';

/**
 * A Rekor v1 `hashedrekord` 0.0.1 proposal: `data` signed (ECDSA over SHA-256) with `key`, the key
 * in the entry as a PEM public key. Returns the body to append and the signature it carries.
 */
export function hashedRekordProposal(
  key: { privateKey: KeyObject; publicKey: KeyObject },
  data: Buffer,
): { body: Record<string, unknown>; signature: Buffer } {
  const signature = sign('sha256', data, key.privateKey);
  return {
    signature,
    body: {
      apiVersion: '0.0.1',
      kind: 'hashedrekord',
      spec: {
        data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(data).digest('hex') } },
        signature: {
          content: signature.toString('base64'),
          publicKey: {
            content: Buffer.from(key.publicKey.export({ format: 'pem', type: 'spki' })).toString('base64'),
          },
        },
      },
    },
  };
}
