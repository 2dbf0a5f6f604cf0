/**
 * The google.cloud.kms.v1.KeyManagementService methods sigsentry uses, over the KmsStore. Status
 * codes and messages follow what Cloud KMS answers, so the product's error handling is exercised
 * against the same shapes it meets in production.
 */
import { createHash } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import {
  DIGEST_LENGTH,
  generateKeyPair,
  type HashName,
  SIGNING_ALGORITHMS,
  signPrehashed,
} from './algorithms.ts';
import { crc32c } from './crc32c.ts';
import type { Faults } from './faults.ts';
import type { CryptoKeyRecord, KmsStore, VersionRecord, VersionState } from './store.ts';

export class RpcError extends Error {
  readonly code: status;
  constructor(code: status, message: string) {
    super(message);
    this.code = code;
  }
}

// Asymmetric decryption keys are created (so a signer can be shown refusing one) but never used.
const DECRYPT_ALGORITHMS: Record<string, number> = {
  RSA_DECRYPT_OAEP_2048_SHA256: 2048,
  RSA_DECRYPT_OAEP_3072_SHA256: 3072,
  RSA_DECRYPT_OAEP_4096_SHA256: 4096,
  RSA_DECRYPT_OAEP_4096_SHA512: 4096,
};

const ID = /^[a-zA-Z0-9_-]{1,63}$/;
const LOCATION = /^projects\/[^/]+\/locations\/[^/]+$/;
const KEY_RING = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[a-zA-Z0-9_-]{1,63}$/;
const CRYPTO_KEY =
  /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[a-zA-Z0-9_-]{1,63}\/cryptoKeys\/[a-zA-Z0-9_-]{1,63}$/;
const VERSION =
  /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[a-zA-Z0-9_-]{1,63}\/cryptoKeys\/[a-zA-Z0-9_-]{1,63}\/cryptoKeyVersions\/[1-9][0-9]*$/;

type Req = Record<string, unknown>;
type Int64Value = { value?: string | number } | null | undefined;

function timestamp(iso: string): { seconds: string; nanos: number } {
  const ms = Date.parse(iso);
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
}

function requireName(value: unknown, pattern: RegExp, field: string, kind: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new RpcError(status.INVALID_ARGUMENT, `The request is missing the required field ${field}.`);
  }
  if (!pattern.test(value)) {
    throw new RpcError(status.INVALID_ARGUMENT, `Resource name [${value}] is not a valid ${kind} name.`);
  }
  return value;
}

function readCrc(v: Int64Value): number | undefined {
  if (v === null || v === undefined) return undefined;
  return Number(v.value ?? 0);
}

export class KmsService {
  private readonly store: KmsStore;
  private readonly faults: Faults;

  constructor(store: KmsStore, faults: Faults) {
    this.store = store;
    this.faults = faults;
  }

  private keyRingOrThrow(name: string) {
    const ring = this.store.keyRings.get(name);
    if (!ring) throw new RpcError(status.NOT_FOUND, `KeyRing ${name} not found.`);
    return ring;
  }

  private cryptoKeyOrThrow(name: string): CryptoKeyRecord {
    const key = this.store.cryptoKeys.get(name);
    if (!key) throw new RpcError(status.NOT_FOUND, `CryptoKey ${name} not found.`);
    return key;
  }

  private versionOrThrow(name: string): VersionRecord {
    const version = this.store.versions.get(name);
    if (!version) throw new RpcError(status.NOT_FOUND, `CryptoKeyVersion ${name} not found.`);
    return version;
  }

  /**
   * A call that needs the version enabled: one held PENDING_GENERATION (faults.ts
   * newVersionsPendingFor) counts it, and the call after the last one it is held for finds it ENABLED.
   */
  private enabledOrThrow(version: VersionRecord): void {
    if (version.state === 'PENDING_GENERATION' && version.pendingCalls !== undefined) {
      if (version.pendingCalls > 0) version.pendingCalls--;
      else {
        version.state = 'ENABLED';
        version.generateTime = new Date().toISOString();
        delete version.pendingCalls;
        // Persisted as any change is; a failed write leaves it pending on disk only.
        this.store.save().catch(() => {});
      }
    }
    if (version.state !== 'ENABLED') {
      throw new RpcError(
        status.FAILED_PRECONDITION,
        `${version.name} is not enabled, current state is: ${version.state}.`,
      );
    }
  }

  private keyRingProto(name: string) {
    const r = this.keyRingOrThrow(name);
    return { name: r.name, createTime: timestamp(r.createTime) };
  }

  private versionProto(v: VersionRecord) {
    return {
      name: v.name,
      state: v.state,
      protectionLevel: v.protectionLevel,
      algorithm: v.algorithm,
      createTime: timestamp(v.createTime),
      generateTime: timestamp(v.generateTime),
    };
  }

  private cryptoKeyProto(k: CryptoKeyRecord) {
    return {
      name: k.name,
      purpose: k.purpose,
      createTime: timestamp(k.createTime),
      versionTemplate: { algorithm: k.algorithm, protectionLevel: k.protectionLevel },
      labels: k.labels,
    };
  }

  async CreateKeyRing(req: Req) {
    const parent = requireName(req['parent'], LOCATION, 'parent', 'Location');
    const id = req['keyRingId'];
    if (typeof id !== 'string' || !ID.test(id)) {
      throw new RpcError(status.INVALID_ARGUMENT, `Invalid key_ring_id [${String(id ?? '')}].`);
    }
    const name = `${parent}/keyRings/${id}`;
    if (this.store.keyRings.has(name))
      throw new RpcError(status.ALREADY_EXISTS, `KeyRing ${name} already exists.`);
    this.store.keyRings.set(name, { name, createTime: new Date().toISOString() });
    await this.store.save();
    return this.keyRingProto(name);
  }

  async GetKeyRing(req: Req) {
    return this.keyRingProto(requireName(req['name'], KEY_RING, 'name', 'KeyRing'));
  }

  async CreateCryptoKey(req: Req) {
    const parent = requireName(req['parent'], KEY_RING, 'parent', 'KeyRing');
    this.keyRingOrThrow(parent);
    const id = req['cryptoKeyId'];
    if (typeof id !== 'string' || !ID.test(id)) {
      throw new RpcError(status.INVALID_ARGUMENT, `Invalid crypto_key_id [${String(id ?? '')}].`);
    }
    const body = (req['cryptoKey'] ?? {}) as Req;
    const purpose = String(body['purpose'] ?? 'CRYPTO_KEY_PURPOSE_UNSPECIFIED');
    const template = (body['versionTemplate'] ?? {}) as Req;
    const algorithm = String(template['algorithm'] ?? 'CRYPTO_KEY_VERSION_ALGORITHM_UNSPECIFIED');
    const protectionLevel = String(template['protectionLevel'] ?? 'SOFTWARE');
    if (purpose === 'ASYMMETRIC_SIGN') {
      if (!SIGNING_ALGORITHMS.has(algorithm)) {
        throw new RpcError(
          status.INVALID_ARGUMENT,
          `Algorithm ${algorithm} is not compatible with purpose ASYMMETRIC_SIGN.`,
        );
      }
    } else if (purpose === 'ASYMMETRIC_DECRYPT') {
      if (!(algorithm in DECRYPT_ALGORITHMS)) {
        throw new RpcError(
          status.INVALID_ARGUMENT,
          `Algorithm ${algorithm} is not compatible with purpose ASYMMETRIC_DECRYPT.`,
        );
      }
    } else {
      throw new RpcError(status.UNIMPLEMENTED, `The KMS emulator does not support purpose ${purpose}.`);
    }
    if (protectionLevel !== 'SOFTWARE' && protectionLevel !== 'HSM') {
      throw new RpcError(status.INVALID_ARGUMENT, `Protection level ${protectionLevel} is not supported.`);
    }
    const name = `${parent}/cryptoKeys/${id}`;
    const exists = () => {
      if (this.store.cryptoKeys.has(name)) {
        throw new RpcError(status.ALREADY_EXISTS, `CryptoKey ${name} already exists.`);
      }
    };
    exists();
    const skipVersion = req['skipInitialVersionCreation'] === true;
    const pair = skipVersion ? undefined : await this.generate(algorithm);
    exists();
    const key: CryptoKeyRecord = {
      name,
      purpose,
      algorithm,
      protectionLevel,
      labels: (body['labels'] as Record<string, string> | undefined) ?? {},
      createTime: new Date().toISOString(),
      nextVersion: 1,
    };
    this.store.cryptoKeys.set(name, key);
    if (pair) this.insertVersion(key, pair.privatePem, pair.publicPem);
    await this.store.save();
    return this.cryptoKeyProto(key);
  }

  private generate(algorithm: string) {
    const alg = SIGNING_ALGORITHMS.get(algorithm) ?? {
      name: algorithm,
      kind: 'rsa-pkcs1' as const,
      modulusBits: DECRYPT_ALGORITHMS[algorithm]!,
    };
    return generateKeyPair(alg);
  }

  // Key generation is the only slow step; everything a concurrent reader can observe is inserted
  // synchronously after it, so no reader ever sees a key without its first version.
  private insertVersion(key: CryptoKeyRecord, privatePem: string, publicPem: string): VersionRecord {
    const now = new Date().toISOString();
    const name = `${key.name}/cryptoKeyVersions/${key.nextVersion++}`;
    const pendingFor = this.faults.newVersionsPendingFor;
    const version: VersionRecord = {
      name,
      state: pendingFor > 0 ? 'PENDING_GENERATION' : 'ENABLED',
      ...(pendingFor > 0 ? { pendingCalls: pendingFor } : {}),
      algorithm: key.algorithm,
      protectionLevel: key.protectionLevel,
      createTime: now,
      generateTime: now,
      publicPem,
      privateKeyFile: `${name.replaceAll('/', '_')}.pem`,
    };
    this.store.versions.set(name, version);
    this.store.setPrivateKey(version, privatePem);
    return version;
  }

  async GetCryptoKey(req: Req) {
    return this.cryptoKeyProto(
      this.cryptoKeyOrThrow(requireName(req['name'], CRYPTO_KEY, 'name', 'CryptoKey')),
    );
  }

  async CreateCryptoKeyVersion(req: Req) {
    const key = this.cryptoKeyOrThrow(requireName(req['parent'], CRYPTO_KEY, 'parent', 'CryptoKey'));
    const pair = await this.generate(key.algorithm);
    const version = this.insertVersion(key, pair.privatePem, pair.publicPem);
    await this.store.save();
    return this.versionProto(version);
  }

  async GetCryptoKeyVersion(req: Req) {
    return this.versionProto(
      this.versionOrThrow(requireName(req['name'], VERSION, 'name', 'CryptoKeyVersion')),
    );
  }

  async UpdateCryptoKeyVersion(req: Req) {
    const body = (req['cryptoKeyVersion'] ?? {}) as Req;
    const version = this.versionOrThrow(
      requireName(body['name'], VERSION, 'crypto_key_version.name', 'CryptoKeyVersion'),
    );
    const paths = (req['updateMask'] as { paths?: string[] } | undefined)?.paths ?? [];
    if (paths.length === 0) {
      throw new RpcError(status.INVALID_ARGUMENT, 'The request is missing the required field update_mask.');
    }
    for (const p of paths) {
      if (p !== 'state')
        throw new RpcError(status.INVALID_ARGUMENT, `Field ${p} in update_mask cannot be updated.`);
    }
    const next = String(body['state'] ?? '');
    if (next !== 'ENABLED' && next !== 'DISABLED') {
      throw new RpcError(
        status.INVALID_ARGUMENT,
        `CryptoKeyVersion state can only be updated to ENABLED or DISABLED, got ${next || 'CRYPTO_KEY_VERSION_STATE_UNSPECIFIED'}.`,
      );
    }
    if (version.state !== 'ENABLED' && version.state !== 'DISABLED') {
      throw new RpcError(
        status.FAILED_PRECONDITION,
        `${version.name} cannot be updated, current state is: ${version.state}.`,
      );
    }
    version.state = next as VersionState;
    await this.store.save();
    return this.versionProto(version);
  }

  async DestroyCryptoKeyVersion(req: Req) {
    const version = this.versionOrThrow(requireName(req['name'], VERSION, 'name', 'CryptoKeyVersion'));
    if (version.state !== 'ENABLED' && version.state !== 'DISABLED') {
      throw new RpcError(
        status.FAILED_PRECONDITION,
        `${version.name} cannot be destroyed, current state is: ${version.state}.`,
      );
    }
    version.state = 'DESTROY_SCHEDULED';
    await this.store.save();
    return this.versionProto(version);
  }

  async ListCryptoKeyVersions(req: Req) {
    const key = this.cryptoKeyOrThrow(requireName(req['parent'], CRYPTO_KEY, 'parent', 'CryptoKey'));
    const filter = String(req['filter'] ?? '').trim();
    let wanted: string | undefined;
    if (filter !== '') {
      const m = /^state\s*[:=]\s*([A-Z_]+)$/.exec(filter);
      if (!m) throw new RpcError(status.INVALID_ARGUMENT, `Invalid filter: ${filter}`);
      wanted = m[1];
    }
    const all = [...this.store.versions.values()]
      .filter((v) => v.name.startsWith(`${key.name}/cryptoKeyVersions/`))
      .filter((v) => wanted === undefined || v.state === wanted)
      .sort((a, b) => Number(a.name.split('/').pop()) - Number(b.name.split('/').pop()));
    const pageSize = Number(req['pageSize'] ?? 0) || 1000;
    const token = String(req['pageToken'] ?? '');
    const start = token === '' ? 0 : Number.parseInt(token, 10);
    if (!Number.isInteger(start) || start < 0 || start > all.length) {
      throw new RpcError(status.INVALID_ARGUMENT, `Invalid page_token [${token}].`);
    }
    const page = all.slice(start, start + pageSize);
    const end = start + page.length;
    return {
      cryptoKeyVersions: page.map((v) => this.versionProto(v)),
      nextPageToken: end < all.length ? String(end) : '',
      totalSize: all.length,
    };
  }

  async GetPublicKey(req: Req) {
    const version = this.versionOrThrow(requireName(req['name'], VERSION, 'name', 'CryptoKeyVersion'));
    this.enabledOrThrow(version);
    const format = String(req['publicKeyFormat'] ?? 'PUBLIC_KEY_FORMAT_UNSPECIFIED');
    if (format !== 'PUBLIC_KEY_FORMAT_UNSPECIFIED' && format !== 'PEM') {
      throw new RpcError(
        status.INVALID_ARGUMENT,
        `Public key format ${format} is not supported by the emulator.`,
      );
    }
    let pemCrc = crc32c(Buffer.from(version.publicPem, 'utf8'));
    if (this.faults.take('wrongPemCrc32c')) pemCrc = (pemCrc ^ 0x1) >>> 0;
    return {
      pem: version.publicPem,
      algorithm: version.algorithm,
      pemCrc32c: { value: String(pemCrc) },
      name: version.name,
      protectionLevel: version.protectionLevel,
    };
  }

  async AsymmetricSign(req: Req) {
    const name = requireName(req['name'], VERSION, 'name', 'CryptoKeyVersion');
    const version = this.versionOrThrow(name);
    const key = this.cryptoKeyOrThrow(name.slice(0, name.indexOf('/cryptoKeyVersions/')));
    if (key.purpose !== 'ASYMMETRIC_SIGN') {
      throw new RpcError(
        status.FAILED_PRECONDITION,
        `${name} has purpose ${key.purpose}; AsymmetricSign requires purpose ASYMMETRIC_SIGN.`,
      );
    }
    this.enabledOrThrow(version);
    const alg = SIGNING_ALGORITHMS.get(version.algorithm)!;
    const digestMsg = req['digest'] as
      | (Partial<Record<HashName, Buffer>> & { digest?: string })
      | null
      | undefined;
    const data = req['data'] as Buffer | undefined;
    const hasData = data !== undefined && data.length > 0;
    const digestKind = digestMsg?.digest as HashName | 'externalMu' | undefined;
    if (digestKind !== undefined && hasData) {
      throw new RpcError(status.INVALID_ARGUMENT, 'Only one of digest or data may be specified.');
    }

    let input: Buffer;
    let verifiedDigestCrc32c = false;
    let verifiedDataCrc32c = false;
    if (digestKind !== undefined) {
      if (alg.hash === undefined) {
        throw new RpcError(
          status.INVALID_ARGUMENT,
          `Algorithm ${alg.name} requires data, not a digest, to be provided.`,
        );
      }
      if (digestKind !== alg.hash) {
        throw new RpcError(
          status.INVALID_ARGUMENT,
          `Digest type ${digestKind.toUpperCase()} does not match the algorithm ${alg.name}, which requires ${alg.hash.toUpperCase()}.`,
        );
      }
      input = digestMsg![digestKind]!;
      if (input.length !== DIGEST_LENGTH[alg.hash]) {
        throw new RpcError(
          status.INVALID_ARGUMENT,
          `Digest has length ${input.length}, but ${alg.hash.toUpperCase()} requires ${DIGEST_LENGTH[alg.hash]}.`,
        );
      }
      const sent = readCrc(req['digestCrc32c'] as Int64Value);
      if (sent !== undefined) {
        if (sent !== crc32c(input)) {
          throw new RpcError(
            status.INVALID_ARGUMENT,
            'The checksum in field digest_crc32c did not match the data in field digest.',
          );
        }
        verifiedDigestCrc32c = true;
      }
    } else if (hasData) {
      const sent = readCrc(req['dataCrc32c'] as Int64Value);
      if (sent !== undefined) {
        if (sent !== crc32c(data)) {
          throw new RpcError(
            status.INVALID_ARGUMENT,
            'The checksum in field data_crc32c did not match the data in field data.',
          );
        }
        verifiedDataCrc32c = true;
      }
      // Hashed algorithms accept data too: KMS hashes it with the algorithm's digest.
      input = alg.hash === undefined ? data : createHash(alg.hash).update(data).digest();
    } else {
      throw new RpcError(status.INVALID_ARGUMENT, 'One of digest or data must be specified.');
    }

    let signature = signPrehashed(alg, await this.store.privateKey(version), input);
    if (this.faults.take('corruptSignature')) {
      signature = Buffer.from(signature);
      signature[signature.length - 5]! ^= 0x40;
    }
    let signatureCrc32c = crc32c(signature);
    if (this.faults.take('wrongSignatureCrc32c')) signatureCrc32c = (signatureCrc32c ^ 0x80000000) >>> 0;
    if (this.faults.take('wrongVerifiedDigestCrc32c')) {
      verifiedDigestCrc32c = false;
      verifiedDataCrc32c = false;
    }
    let answeredName = version.name;
    if (this.faults.take('wrongName'))
      answeredName = version.name.replace(/\d+$/, (n) => String(Number(n) + 1));
    return {
      signature,
      signatureCrc32c: { value: String(signatureCrc32c) },
      verifiedDigestCrc32c,
      verifiedDataCrc32c,
      name: answeredName,
      protectionLevel: version.protectionLevel,
    };
  }
}

export const IMPLEMENTED_METHODS = [
  'CreateKeyRing',
  'GetKeyRing',
  'CreateCryptoKey',
  'GetCryptoKey',
  'CreateCryptoKeyVersion',
  'GetCryptoKeyVersion',
  'UpdateCryptoKeyVersion',
  'DestroyCryptoKeyVersion',
  'ListCryptoKeyVersions',
  'GetPublicKey',
  'AsymmetricSign',
] as const;
