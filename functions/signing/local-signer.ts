/**
 * A @sigstore/sign Signer over a PEM private key held by the process: the embedded default when no
 * KMS key is configured. ECDSA P-256 / P-384 / P-521 (with SHA-256 / 384 / 512, as cosign pairs
 * them), RSA (PKCS#1 v1.5 with SHA-256 unless PSS is asked for), and Ed25519.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Signature, Signer } from '@sigstore/sign';
import { InvalidInputError } from '../errors.ts';
import { sshKeyId } from './key-hint.ts';

export interface LocalSignerOptions {
  /** For RSA keys: 'pkcs1' (default) or 'pss' (salt as long as the digest, as Cloud KMS does). */
  rsaPadding?: 'pkcs1' | 'pss';
  /**
   * Overrides the bundle's public key hint (default: the SSH SHA-256 fingerprint, the DSSE keyid
   * sigstore-go and cosign 3 require: see key-hint.ts).
   */
  hint?: string;
  /** Passphrase of an encrypted PEM. */
  passphrase?: string;
}

const CURVE_HASH: Record<string, 'sha256' | 'sha384' | 'sha512'> = {
  prime256v1: 'sha256',
  secp384r1: 'sha384',
  secp521r1: 'sha512',
};

export class LocalSigner implements Signer {
  readonly publicKeyPem: string;
  readonly hint: string;
  private readonly privateKey: KeyObject;
  private readonly hash: 'sha256' | 'sha384' | 'sha512' | null;
  private readonly rsaPss: boolean;

  constructor(privateKeyPem: string, options: LocalSignerOptions = {}) {
    let key: KeyObject;
    try {
      key = crypto.createPrivateKey({ key: privateKeyPem, format: 'pem', passphrase: options.passphrase });
    } catch (err) {
      throw new InvalidInputError(`not a usable PEM private key: ${(err as Error).message}`);
    }
    const type = key.asymmetricKeyType;
    if (type === 'ec') {
      const curve = key.asymmetricKeyDetails?.namedCurve ?? '';
      const hash = CURVE_HASH[curve];
      if (!hash) throw new InvalidInputError(`unsupported EC curve ${curve}`, { curve });
      this.hash = hash;
    } else if (type === 'rsa') {
      if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
        throw new InvalidInputError('RSA keys shorter than 2048 bits are refused');
      }
      this.hash = 'sha256';
    } else if (type === 'ed25519') {
      this.hash = null;
    } else {
      throw new InvalidInputError(`unsupported private key type ${String(type)}`, { keyType: type });
    }
    this.privateKey = key;
    this.rsaPss = type === 'rsa' && options.rsaPadding === 'pss';
    const publicKey = crypto.createPublicKey(key);
    this.publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    this.hint = options.hint ?? sshKeyId(publicKey);
  }

  static async fromFile(path: string, options: LocalSignerOptions = {}): Promise<LocalSigner> {
    return new LocalSigner(await readFile(path, 'utf8'), options);
  }

  async sign(data: Buffer): Promise<Signature> {
    const key = this.rsaPss
      ? { key: this.privateKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
      : this.privateKey;
    const signature = crypto.sign(this.hash, data, key);
    return { signature, key: { $case: 'publicKey', publicKey: this.publicKeyPem, hint: this.hint } };
  }
}
