import type { KeyManagementServiceClient, protos } from '@google-cloud/kms';
import type { KmsEmulator } from '../../emulators/kms/server.ts';
import { ensureSigningKey, type SigningKeySpec } from '../../emulators/kms/setup.ts';

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

/**
 * A P-256 signing key made (or found) by ensureSigningKey: the name of its ENABLED version, and the
 * key's own name (`…/cryptoKeys/KEY`), under which new versions are created.
 */
export async function ensureP256SigningKey(
  kms: KeyManagementServiceClient,
  spec: Omit<SigningKeySpec, 'algorithm'>,
): Promise<{ keyVersion: string; keyName: string }> {
  const keyVersion = await ensureSigningKey(kms, { ...spec, algorithm: 'EC_SIGN_P256_SHA256' });
  return { keyVersion, keyName: keyVersion.slice(0, keyVersion.indexOf('/cryptoKeyVersions/')) };
}

/**
 * A new version of the key `keyName`, created while the KMS emulator holds new versions
 * PENDING_GENERATION for `calls` calls (its `newVersionsPendingFor` fault), as Cloud KMS does one it
 * is still generating.
 */
export async function createPendingKeyVersion(
  emulator: Pick<KmsEmulator, 'faults'>,
  kms: KeyManagementServiceClient,
  keyName: string,
  calls: number,
): Promise<protos.google.cloud.kms.v1.ICryptoKeyVersion> {
  emulator.faults.set({ newVersionsPendingFor: calls });
  try {
    const [created] = await kms.createCryptoKeyVersion({ parent: keyName, cryptoKeyVersion: {} });
    return created;
  } finally {
    emulator.faults.clear();
  }
}
