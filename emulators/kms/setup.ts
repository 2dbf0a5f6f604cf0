/**
 * Creates (or finds) a signing key with the real @google-cloud/kms client: the same calls an
 * operator's setup script makes against Cloud KMS, run here against the emulator. Idempotent: a
 * second call with the same arguments returns the same key version and creates nothing.
 */
import type { KeyManagementServiceClient, protos } from '@google-cloud/kms';
import { status } from '@grpc/grpc-js';

export interface SigningKeySpec {
  project: string;
  location: string;
  keyRing: string;
  key: string;
  /** A CryptoKeyVersionAlgorithm name, e.g. 'EC_SIGN_P256_SHA256'. */
  algorithm: string;
}

type Algorithm = protos.google.cloud.kms.v1.ICryptoKeyVersionTemplate['algorithm'];

const codeOf = (err: unknown): number | undefined => (err as { code?: number } | null)?.code;

async function ignoreAlreadyExists(op: Promise<unknown>): Promise<void> {
  try {
    await op;
  } catch (err) {
    if (codeOf(err) !== status.ALREADY_EXISTS) throw err;
  }
}

/** Returns the name of the newest ENABLED version of the key, creating ring, key or version as needed. */
export async function ensureSigningKey(
  client: KeyManagementServiceClient,
  spec: SigningKeySpec,
): Promise<string> {
  const parent = client.locationPath(spec.project, spec.location);
  const ringName = client.keyRingPath(spec.project, spec.location, spec.keyRing);
  const keyName = client.cryptoKeyPath(spec.project, spec.location, spec.keyRing, spec.key);

  try {
    await client.getKeyRing({ name: ringName });
  } catch (err) {
    if (codeOf(err) !== status.NOT_FOUND) throw err;
    await ignoreAlreadyExists(client.createKeyRing({ parent, keyRingId: spec.keyRing, keyRing: {} }));
  }

  let key: protos.google.cloud.kms.v1.ICryptoKey;
  try {
    [key] = await client.getCryptoKey({ name: keyName });
  } catch (err) {
    if (codeOf(err) !== status.NOT_FOUND) throw err;
    await ignoreAlreadyExists(
      client.createCryptoKey({
        parent: ringName,
        cryptoKeyId: spec.key,
        cryptoKey: {
          purpose: 'ASYMMETRIC_SIGN',
          versionTemplate: { algorithm: spec.algorithm as Algorithm },
        },
      }),
    );
    [key] = await client.getCryptoKey({ name: keyName });
  }
  if (key.purpose !== 'ASYMMETRIC_SIGN' || key.versionTemplate?.algorithm !== spec.algorithm) {
    throw new Error(
      `${keyName} exists with purpose ${String(key.purpose)} and algorithm ${String(key.versionTemplate?.algorithm)}, not ASYMMETRIC_SIGN ${spec.algorithm}`,
    );
  }

  const [versions] = await client.listCryptoKeyVersions({ parent: keyName, filter: 'state=ENABLED' });
  const newest = versions
    .map((v) => ({ name: v.name ?? '', n: Number((v.name ?? '').split('/').pop()) }))
    .sort((a, b) => b.n - a.n)[0];
  if (newest) return newest.name;
  const [created] = await client.createCryptoKeyVersion({ parent: keyName, cryptoKeyVersion: {} });
  return created.name!;
}
