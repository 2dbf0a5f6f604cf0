/**
 * The signOnPush core wired for unit tests: a real registry client (usually against the docker-registry
 * of ./registry.ts), signing records and alerts in memory, a local key standing in for KMS, and every
 * manifest GET and record claim counted.
 *
 *   const core = signOnPushCore(new RegistryClient({ allowedHosts: [reg.host] }), reg.host);
 *   await core.entry(gcrEvent({ action: 'INSERT', digest: `${reg.host}/team/app@${digest}` }));
 */
import crypto, { createHash } from 'node:crypto';
import type { Witness } from '@sigstore/sign';
import type { AlertInput, AlertSink } from '../../functions/alerts/alert.ts';
import { InProcessSubjectLock } from '../../functions/attach/lock.ts';
import type { SignatureFormat, SignOnPushConfig } from '../../functions/config/sign-config.ts';
import { createMemoryLogger } from '../../functions/logging/logger.ts';
import type { Descriptor } from '../../functions/registry/manifest.ts';
import type { Registry } from '../../functions/registry/registry.ts';
import { createSignOnPush } from '../../functions/sign-on-push/core.ts';
import { createSignOnPushEntry } from '../../functions/sign-on-push/entry.ts';
import { LocalSigner } from '../../functions/signing/local-signer.ts';
import {
  type ClaimOptions,
  type ClaimOutcome,
  decideClaim,
  type SigningRecord,
  type SigningStore,
} from '../../functions/state/signing-records.ts';
import type { LogKey } from '../../functions/verify/trust.ts';
import { countingManifestGets } from './manifest-gets.ts';
import type { TestRegistry } from './registry.ts';

export const TEST_KEY_VERSION = 'projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1';

type RecordId = { image: string; keyVersion: string };

/** Signing records in memory, claimed by the rules of FirestoreSigningStore (`decideClaim`). */
export class MemorySigningStore implements SigningStore {
  readonly records = new Map<string, SigningRecord>();
  claims = 0;

  async claim(id: RecordId, owner: string, opts: ClaimOptions): Promise<ClaimOutcome> {
    this.claims++;
    const existing = this.records.get(id.image);
    const { outcome, write } = decideClaim(structuredClone(existing), id, owner, opts, Date.now());
    if (write) this.records.set(id.image, { ...existing, ...structuredClone(write) } as SigningRecord);
    return structuredClone(outcome);
  }

  async progress(id: RecordId, _owner: string, patch: Partial<SigningRecord>): Promise<void> {
    const record = this.records.get(id.image);
    if (record) Object.assign(record, structuredClone(patch));
  }

  async get(id: RecordId): Promise<SigningRecord | undefined> {
    return this.records.get(id.image);
  }
}

export interface SignOnPushCoreOptions {
  formats?: SignatureFormat[];
  signPlatformManifests?: boolean;
  /** The records of an earlier core (the same deployment after a configuration change). */
  store?: MemorySigningStore;
  /** The transparency log's witness (none by default: the rule logs nowhere). */
  witness?: Witness;
  /** The log the witness records into (signOnPushDepsFromEnv's signingLog, countedWitness's). */
  signingLog?: LogKey;
  maxAttempts?: number;
}

/**
 * The signing key (PKCS#8 PEM) of the deployment whose records `store` holds: cores sharing a store
 * (one deployment, its configuration changed) sign with one key, as one KMS key version is one key.
 * A record's stored signature is judged under the rule's key, so a fresh key per core would refuse
 * what production, with the same key version, attaches.
 */
const deploymentKeys = new WeakMap<MemorySigningStore, string>();
function keyOfDeployment(store: MemorySigningStore): string {
  let pem = deploymentKeys.get(store);
  if (pem === undefined) {
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    deploymentKeys.set(store, pem);
  }
  return pem;
}

/** The core and its entry, watching `${host}/team/**`, with what they did recorded. */
export function signOnPushCore(registry: Registry, host: string, options: SignOnPushCoreOptions = {}) {
  const store = options.store ?? new MemorySigningStore();
  const local = new LocalSigner(keyOfDeployment(store));
  const signed: Buffer[] = [];
  const signer = {
    sign: async (data: Buffer) => {
      signed.push(Buffer.from(data));
      return local.sign(data);
    },
    signatureKey: async () => ({
      $case: 'publicKey' as const,
      publicKey: local.publicKeyPem,
      hint: local.hint,
    }),
  };
  const config: SignOnPushConfig = {
    project: 'p',
    watch: [
      {
        repositories: `${host}/team/**`,
        key: TEST_KEY_VERSION,
        formats: options.formats ?? ['cosign'],
        signPlatformManifests: options.signPlatformManifests ?? true,
      },
    ],
    log: { kind: 'none' },
    annotations: {},
    maxAttempts: options.maxAttempts ?? 10,
  };
  const raised: AlertInput[] = [];
  const resolved: string[] = [];
  const alerts: AlertSink = {
    raise: async (a) => void raised.push(a),
    resolve: async (key) => void resolved.push(key),
  };
  const logger = createMemoryLogger();
  const gets: string[] = [];
  const core = createSignOnPush({
    config,
    registry: countingManifestGets(registry, gets),
    store,
    signerFor: () => signer,
    witness: options.witness,
    ...(options.signingLog ? { signingLog: options.signingLog } : {}),
    lock: new InProcessSubjectLock(),
    alerts,
    instanceId: 'unit',
  });
  const entry = createSignOnPushEntry({ logger, core });
  return { core, entry, store, raised, resolved, logger, signed, gets, publicKeyPem: local.publicKeyPem };
}

/** A Pub/Sub CloudEvent carrying one `gcr` message, published at `publishTime` when given. */
export function gcrEvent(message: object, id = 'm1', publishTime?: Date) {
  return {
    id,
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    data: {
      message: {
        data: Buffer.from(JSON.stringify(message)).toString('base64'),
        messageId: id,
        ...(publishTime ? { publishTime: publishTime.toISOString() } : {}),
      },
    },
  };
}

/** PUT manifest bytes as they are (two spellings of a key included) under `reference`; its descriptor. */
export async function putRawManifest(
  registry: TestRegistry,
  repository: string,
  reference: string,
  mediaType: string,
  body: string,
): Promise<Descriptor> {
  const url = `${registry.url}/v2/${repository}/manifests/${reference}`;
  const res = await fetch(url, { method: 'PUT', headers: { 'content-type': mediaType }, body });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`PUT ${url}: ${res.status} ${text}`);
  return {
    mediaType,
    digest: `sha256:${createHash('sha256').update(body).digest('hex')}`,
    size: Buffer.byteLength(body),
  };
}
