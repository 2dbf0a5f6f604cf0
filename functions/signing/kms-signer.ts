/**
 * A @sigstore/sign Signer over one Cloud KMS key version. Every exchange with KMS follows Google's
 * end-to-end integrity guidelines (https://cloud.google.com/kms/docs/data-integrity-guidelines):
 * the request carries the CRC32C of the digest (or data), and the response is discarded unless
 * KMS says it verified that checksum, names the key version we asked for, and carries a signature
 * whose CRC32C matches. On top of that the signature is verified against the key version's public
 * key before it leaves this file, so a KMS (or a network) that returns garbage never produces a
 * bundle. It signs only with the algorithms of SIGNING_ALGORITHMS: a key version of any other is
 * refused when its public key is first read, before anything is signed.
 */
import crypto, { type KeyObject } from 'node:crypto';
import type { protos } from '@google-cloud/kms';
import type { Signature, Signer } from '@sigstore/sign';
import { KMS_KEY_VERSION } from '../config/sign-config.ts';
import { DependencyError, SigsentryError } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import {
  isSigningAlgorithm,
  KMS_SIGNING_ALGORITHMS,
  type KmsSigningAlgorithm,
  keyMatchesAlgorithm,
  SIGNING_ALGORITHMS,
  verifyKmsSignature,
} from './algorithms.ts';
import { crc32c, int64Checksum } from './crc32c.ts';
import { KmsIntegrityError, KmsKeyUnusableError, KmsPermissionDeniedError } from './errors.ts';
import { sshKeyId } from './key-hint.ts';

type IPublicKey = protos.google.cloud.kms.v1.IPublicKey;
type IAsymmetricSignRequest = protos.google.cloud.kms.v1.IAsymmetricSignRequest;
type IAsymmetricSignResponse = protos.google.cloud.kms.v1.IAsymmetricSignResponse;
type ICryptoKeyVersion = protos.google.cloud.kms.v1.ICryptoKeyVersion;

/** The subset of gax call options sigsentry sets on KMS calls. */
export interface KmsCallOptions {
  /** Per-attempt deadline in milliseconds. */
  timeout?: number;
  /** Retries of UNAVAILABLE / DEADLINE_EXCEEDED inside the client library; 0 means one attempt. */
  maxRetries?: number;
}

/** The KeyManagementServiceClient methods the signer uses; the real client satisfies it. */
export interface KmsApi {
  getPublicKey(request: { name: string }, options?: KmsCallOptions): Promise<[IPublicKey, ...unknown[]]>;
  asymmetricSign(
    request: IAsymmetricSignRequest,
    options?: KmsCallOptions,
  ): Promise<[IAsymmetricSignResponse, ...unknown[]]>;
  getCryptoKeyVersion(
    request: { name: string },
    options?: KmsCallOptions,
  ): Promise<[ICryptoKeyVersion, ...unknown[]]>;
}

export interface KmsPublicKey {
  /** The key version resource name. */
  name: string;
  algorithm: KmsSigningAlgorithm;
  pem: string;
  key: KeyObject;
  /**
   * The key hint bundles carry (verificationMaterial.publicKey.hint and the DSSE keyid): the SSH
   * SHA-256 fingerprint, the key ID sigstore-go and cosign 3 require (signing/key-hint.ts).
   */
  hint: string;
}

export interface KmsSignerOptions {
  client: KmsApi;
  /** projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N */
  keyVersion: string;
  /** Attempts for a response that fails an integrity check, as Google advises ("a limited number"). */
  integrityAttempts?: number;
  /** Passed to every KMS call. Defaults keep a signing within a function's time budget. */
  callOptions?: KmsCallOptions;
  /**
   * Overrides the bundle's public key hint (default: the SSH SHA-256 fingerprint, see key-hint.ts).
   * Anything else but '' makes bundles sigstore-go and cosign 3 refuse: their DSSE keyid must be empty
   * or that fingerprint.
   */
  hint?: string;
  logger?: Logger;
}

const DEFAULT_CALL_OPTIONS: KmsCallOptions = { timeout: 20_000, maxRetries: 2 };

// Public keys of key versions never change: fetched once per client and key version. Keyed by
// client so that two KMS endpoints (say, two emulators in one test run) never share entries.
const publicKeyCache = new WeakMap<object, Map<string, Promise<KmsPublicKey>>>();

const GRPC = { INVALID_ARGUMENT: 3, NOT_FOUND: 5, PERMISSION_DENIED: 7, FAILED_PRECONDITION: 9 } as const;

/**
 * The key version states Cloud KMS leaves by itself: "still being generated / imported … Cloud KMS
 * will automatically mark this version ENABLED as soon as the version is ready" (resources.proto,
 * CryptoKeyVersionState; an HSM version starts PENDING_GENERATION). Every other state other than
 * ENABLED (DISABLED, DESTROY_SCHEDULED, DESTROYED, IMPORT_FAILED, GENERATION_FAILED,
 * PENDING_EXTERNAL_DESTRUCTION, …) changes only by an operator's hand, or never.
 */
export const TRANSIENT_KEY_STATES: ReadonlySet<string> = new Set(['PENDING_GENERATION', 'PENDING_IMPORT']);

export function isTransientKeyState(state: string | undefined): boolean {
  return state !== undefined && TRANSIENT_KEY_STATES.has(state);
}

/**
 * The state KMS refused a key version for (a kmsError of FAILED_PRECONDITION naming a state other
 * than ENABLED: DISABLED, DESTROYED, …, or a transient one, see isTransientKeyState), or undefined
 * for any other failure: a FAILED_PRECONDITION for anything else is not a state, and neither is a
 * denial, a missing key or an outage.
 */
export function refusedKeyState(err: unknown): string | undefined {
  if (!(err instanceof SigsentryError)) return undefined;
  if (!(err instanceof KmsKeyUnusableError) && !(err instanceof DependencyError)) return undefined;
  if (err.details['grpcCode'] !== GRPC.FAILED_PRECONDITION) return undefined;
  const state = err.details['state'];
  return typeof state === 'string' && state !== 'ENABLED' ? state : undefined;
}

/** Turns a client library error into the typed error the function entry points act on. */
export function kmsError(err: unknown, keyVersion: string, method: string): Error {
  if (err instanceof SigsentryError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message =
    (err as { details?: unknown; message?: unknown } | null)?.details ?? (err as Error)?.message;
  const text = typeof message === 'string' ? message : String(err);
  const details = { keyVersion, method, grpcCode: code };
  switch (code) {
    case GRPC.FAILED_PRECONDITION: {
      const state = /current state is: ([A-Z_]+)/.exec(text)?.[1];
      // A version KMS is still generating or importing: usable by itself soon, so tried again
      // (signOnPush's push is redelivered rather than acknowledged unsigned).
      if (isTransientKeyState(state)) {
        return new DependencyError(
          'kms',
          `KMS key version is not ready yet: ${text}`,
          { ...details, state },
          err,
        );
      }
      return new KmsKeyUnusableError(`KMS key version cannot be used: ${text}`, { ...details, state }, err);
    }
    case GRPC.PERMISSION_DENIED:
      // Retryable: an IAM grant takes minutes to reach KMS (KmsPermissionDeniedError).
      return new KmsPermissionDeniedError(`KMS key version cannot be used: ${text}`, details, err);
    case GRPC.NOT_FOUND:
      // Not retryable: KMS answers NOT_FOUND only to a caller allowed to see the key version's parent
      // (AIP-211: anyone else is answered PERMISSION_DENIED, "or it might not exist"), so the version
      // does not exist: a wrong name, or a version deleted once destroyed. A destroyed version is a
      // FAILED_PRECONDITION naming DESTROYED, above. Neither passes by itself.
      return new KmsKeyUnusableError(`KMS key version cannot be used: ${text}`, details, err);
    case GRPC.INVALID_ARGUMENT:
      // KMS found that a checksum we sent does not match what it received: corruption on the way.
      if (/checksum/i.test(text)) {
        return new KmsIntegrityError(`KMS rejected a request checksum: ${text}`, {
          ...details,
          check: 'request-crc32c',
        });
      }
      return new SigsentryError('KMS_REQUEST_REJECTED', `KMS rejected the request: ${text}`, {
        retryable: false,
        details,
        cause: err,
      });
    default:
      return new DependencyError('kms', `KMS ${method} failed: ${text}`, details, err);
  }
}

function checkName(keyVersion: string): void {
  // The rule signOnPush's configuration checks names with, so a name it loads is never refused here.
  if (!KMS_KEY_VERSION.test(keyVersion)) {
    throw new KmsKeyUnusableError(`not a CryptoKeyVersion resource name: ${keyVersion}`, { keyVersion });
  }
}

async function fetchPublicKey(
  client: KmsApi,
  keyVersion: string,
  callOptions: KmsCallOptions,
): Promise<KmsPublicKey> {
  let response: IPublicKey;
  try {
    [response] = await client.getPublicKey({ name: keyVersion }, callOptions);
  } catch (err) {
    throw kmsError(err, keyVersion, 'GetPublicKey');
  }
  const algorithmName = String(response.algorithm ?? '');
  const algorithm = KMS_SIGNING_ALGORITHMS.get(algorithmName);
  if (!algorithm) {
    throw new KmsKeyUnusableError(
      `KMS key version ${keyVersion} has algorithm ${algorithmName}, which is not a supported signing algorithm`,
      {
        keyVersion,
        algorithm: algorithmName,
      },
    );
  }
  if (response.name !== keyVersion) {
    throw new KmsIntegrityError('KMS answered the public key of another key version', {
      keyVersion,
      check: 'name',
      answered: response.name,
    });
  }
  const pem = response.pem ?? '';
  const expected = int64Checksum(response.pemCrc32c);
  if (expected === undefined || expected !== crc32c(Buffer.from(pem, 'utf8'))) {
    throw new KmsIntegrityError('KMS public key PEM does not match its pemCrc32c', {
      keyVersion,
      check: 'pem_crc32c',
    });
  }
  let key: KeyObject;
  try {
    key = crypto.createPublicKey(pem);
  } catch (err) {
    throw new KmsIntegrityError(`KMS public key is not a valid PEM public key: ${(err as Error).message}`, {
      keyVersion,
      check: 'pem',
    });
  }
  if (!keyMatchesAlgorithm(algorithm, key)) {
    throw new KmsIntegrityError(`KMS public key is not a ${algorithm.name} key`, {
      keyVersion,
      check: 'key-type',
    });
  }
  return { name: keyVersion, algorithm, pem, key, hint: sshKeyId(key) };
}

/**
 * Refuses a key version sigsentry must not sign with (see SIGNING_ALGORITHMS): its signatures would
 * make log entries the log rejects, or that cosign and sigstore-js do not verify. Not retryable: only
 * an operator configuring another key version mends it.
 */
export function assertSigningAlgorithm(key: KmsPublicKey): void {
  if (isSigningAlgorithm(key.algorithm.name)) return;
  throw new KmsKeyUnusableError(
    `KMS key version ${key.name} has algorithm ${key.algorithm.name}, which sigsentry does not sign with ` +
      '(its signatures cannot be logged and verified in both the cosign layout and the Sigstore bundle); ' +
      `supported signing algorithms: ${SIGNING_ALGORITHMS.join(', ')}`,
    { keyVersion: key.name, algorithm: key.algorithm.name, supported: [...SIGNING_ALGORITHMS] },
  );
}

/** The public key of a key version, fetched once per client and key version (failures are not cached). */
export function kmsPublicKey(
  client: KmsApi,
  keyVersion: string,
  callOptions: KmsCallOptions = DEFAULT_CALL_OPTIONS,
): Promise<KmsPublicKey> {
  checkName(keyVersion);
  let perClient = publicKeyCache.get(client);
  if (!perClient) {
    perClient = new Map();
    publicKeyCache.set(client, perClient);
  }
  let entry = perClient.get(keyVersion);
  if (!entry) {
    entry = fetchPublicKey(client, keyVersion, callOptions);
    perClient.set(keyVersion, entry);
    entry.catch(() => perClient.delete(keyVersion));
  }
  return entry;
}

/** The state of a key version (ENABLED, DISABLED, DESTROY_SCHEDULED, DESTROYED, ...), always fresh. */
export async function keyVersionState(
  client: KmsApi,
  keyVersion: string,
  callOptions: KmsCallOptions = DEFAULT_CALL_OPTIONS,
): Promise<string> {
  checkName(keyVersion);
  try {
    const [version] = await client.getCryptoKeyVersion({ name: keyVersion }, callOptions);
    return String(version.state ?? 'CRYPTO_KEY_VERSION_STATE_UNSPECIFIED');
  } catch (err) {
    throw kmsError(err, keyVersion, 'GetCryptoKeyVersion');
  }
}

export class KmsSigner implements Signer {
  readonly keyVersion: string;
  private readonly client: KmsApi;
  private readonly attempts: number;
  private readonly callOptions: KmsCallOptions;
  private readonly hint: string | undefined;
  private readonly logger: Logger | undefined;

  constructor(options: KmsSignerOptions) {
    checkName(options.keyVersion);
    this.client = options.client;
    this.keyVersion = options.keyVersion;
    this.attempts = Math.max(1, options.integrityAttempts ?? 3);
    this.callOptions = options.callOptions ?? DEFAULT_CALL_OPTIONS;
    this.hint = options.hint;
    this.logger = options.logger;
  }

  /** The key version's public key, whatever its algorithm (for verification). */
  publicKey(): Promise<KmsPublicKey> {
    return kmsPublicKey(this.client, this.keyVersion, this.callOptions);
  }

  /** The public key to sign with: refused unless its algorithm is one of SIGNING_ALGORITHMS. */
  async signingKey(): Promise<KmsPublicKey> {
    const key = await this.publicKey();
    assertSigningAlgorithm(key);
    return key;
  }

  /** The key material signatures are reported with, refused as signingKey() refuses. */
  async signatureKey(): Promise<Signature['key']> {
    const key = await this.signingKey();
    return { $case: 'publicKey', publicKey: key.pem, hint: this.hint ?? key.hint };
  }

  async sign(data: Buffer): Promise<Signature> {
    let lastError: KmsIntegrityError | undefined;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      try {
        const publicKey = await this.signingKey();
        const signature = await this.signOnce(publicKey, data);
        return {
          signature,
          key: { $case: 'publicKey', publicKey: publicKey.pem, hint: this.hint ?? publicKey.hint },
        };
      } catch (err) {
        if (!(err instanceof KmsIntegrityError)) throw err;
        lastError = err;
        this.logger?.warn('KMS response failed an integrity check; discarding it', {
          keyVersion: this.keyVersion,
          attempt,
          error: err,
        });
      }
    }
    throw lastError!;
  }

  private async signOnce(publicKey: KmsPublicKey, data: Buffer): Promise<Buffer> {
    const { algorithm } = publicKey;
    const keyVersion = this.keyVersion;
    let request: IAsymmetricSignRequest;
    if (algorithm.hash) {
      const digest = crypto.createHash(algorithm.hash).update(data).digest();
      request = {
        name: keyVersion,
        digest: { [algorithm.hash]: digest },
        digestCrc32c: { value: crc32c(digest) },
      };
    } else {
      request = { name: keyVersion, data, dataCrc32c: { value: crc32c(data) } };
    }

    let response: IAsymmetricSignResponse;
    try {
      [response] = await this.client.asymmetricSign(request, this.callOptions);
    } catch (err) {
      throw kmsError(err, keyVersion, 'AsymmetricSign');
    }

    const verifiedField = algorithm.hash ? 'verifiedDigestCrc32c' : 'verifiedDataCrc32c';
    if (response[verifiedField] !== true) {
      throw new KmsIntegrityError(`KMS did not verify the request checksum (${verifiedField} is false)`, {
        keyVersion,
        check: verifiedField,
      });
    }
    if (response.name !== keyVersion) {
      throw new KmsIntegrityError('KMS signed with another key version than requested', {
        keyVersion,
        check: 'name',
        answered: response.name,
      });
    }
    const signature = Buffer.from(response.signature ?? new Uint8Array());
    const expected = int64Checksum(response.signatureCrc32c);
    if (expected === undefined || expected !== crc32c(signature)) {
      throw new KmsIntegrityError('KMS signature does not match its signatureCrc32c', {
        keyVersion,
        check: 'signatureCrc32c',
      });
    }
    if (!verifyKmsSignature(algorithm, publicKey.key, data, signature)) {
      throw new KmsIntegrityError('KMS signature does not verify against the key version public key', {
        keyVersion,
        check: 'signature',
      });
    }
    return signature;
  }
}
