import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';

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

/**
 * Appends a `hashedrekord` entry of `text`, signed with a throwaway key, to the Rekor v1 log at
 * `rekorUrl`. Tests append one first so that the entries they check never sit at log index 0,
 * which proto3 JSON leaves out of a bundle's `logIndex`.
 */
export async function appendFillerEntry(rekorUrl: string, text: string): Promise<void> {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const res = await fetch(`${rekorUrl}/api/v1/log/entries`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(hashedRekordProposal(key, Buffer.from(text)).body),
  });
  await res.arrayBuffer();
  if (res.status !== 201) throw new Error(`the log refused the filler entry: HTTP ${res.status}`);
}
