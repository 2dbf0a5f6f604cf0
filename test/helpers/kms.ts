import type { KeyManagementServiceClient } from '@google-cloud/kms';

/** Enables or disables a KMS key version (the stack's KMS emulator, or Cloud KMS), as an operator would. */
export async function setKeyVersionState(
  kms: KeyManagementServiceClient,
  keyVersion: string,
  state: 'ENABLED' | 'DISABLED',
): Promise<void> {
  await kms.updateCryptoKeyVersion({
    cryptoKeyVersion: { name: keyVersion, state },
    updateMask: { paths: ['state'] },
  });
}
