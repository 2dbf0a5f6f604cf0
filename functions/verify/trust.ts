/**
 * Trust material for @sigstore/verify. Key-based signatures (sigsentry's own) trust exactly the
 * configured transparency log key(s) and the one expected public key; keyless signatures trust the
 * public-good root (Fulcio, CT logs, Rekor) and nothing configured locally.
 */
import crypto, { type KeyObject } from 'node:crypto';
import type { TrustedRoot } from '@sigstore/protobuf-specs';
import { type TrustMaterial, toTrustMaterial } from '@sigstore/verify';
import type { ExpectedKey } from './policy.ts';

export interface LogKey {
  /** The log's base URL; a checkpoint's signer name must be part of it (sigstore-js checks this). */
  baseUrl: string;
  publicKey: KeyObject;
  /** Hex SHA-256 of the DER key: the Rekor v1 log ID. */
  logId: string;
}

export function logKey(baseUrl: string, pem: string | KeyObject): LogKey {
  const publicKey = typeof pem === 'string' ? crypto.createPublicKey(pem) : pem;
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return { baseUrl, publicKey, logId: crypto.createHash('sha256').update(der).digest('hex') };
}

const FOREVER = { start: new Date(0), end: new Date(8.64e15) };

/** Trust in one expected key (whatever hint the bundle carries) and the configured logs. */
export function keyTrustMaterial(key: ExpectedKey, logs: readonly LogKey[]): TrustMaterial {
  return {
    certificateAuthorities: [],
    timestampAuthorities: [],
    ctlogs: [],
    tlogs: logs.map((log) => ({
      logID: Buffer.from(log.logId, 'hex'),
      baseURL: log.baseUrl,
      publicKey: log.publicKey,
      validFor: FOREVER,
    })),
    publicKey: () => ({ publicKey: key.publicKey, validFor: () => true }),
  };
}

const rootMaterial = new WeakMap<TrustedRoot, TrustMaterial>();

export function rootTrustMaterial(root: TrustedRoot): TrustMaterial {
  let material = rootMaterial.get(root);
  if (material === undefined) {
    material = toTrustMaterial(root);
    rootMaterial.set(root, material);
  }
  return material;
}
