/**
 * KMS answering PERMISSION_DENIED is retried like a registry's 401/403: an IAM grant takes minutes to
 * reach KMS ("typically 2 minutes, potentially 7 minutes or longer"), so a deployment whose grant is
 * still propagating must not give up its first pushes. Each such delivery fails retryably with an
 * ERROR line and no alert; once the grant arrives the redelivery signs the image; a grant that never
 * arrives ends, after the rule's attempts, in one signing-failed alert naming the denial. NOT_FOUND
 * stays permanent: KMS answers it only to a caller allowed to look (AIP-211), so the version does not
 * exist. Until 2026-12-03 a denial was acknowledged on the first delivery with a signing-failed
 * alert and the push never signed (found by review).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import type { AlertInput } from '../../../functions/alerts/alert.ts';
import { readCosignSignatures } from '../../../functions/attach/cosign-layout.ts';
import { InProcessSubjectLock } from '../../../functions/attach/lock.ts';
import type { SignOnPushConfig } from '../../../functions/config/sign-config.ts';
import { isRetryable } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { createSignOnPush } from '../../../functions/sign-on-push/core.ts';
import { createSignOnPushEntry } from '../../../functions/sign-on-push/entry.ts';
import { KmsKeyUnusableError, KmsPermissionDeniedError } from '../../../functions/signing/errors.ts';
import { type KmsApi, KmsSigner, kmsError } from '../../../functions/signing/kms-signer.ts';
import { ensureP256SigningKey } from '../../helpers/kms.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { gcrEvent, MemorySigningStore } from '../../helpers/sign-on-push-core.ts';
import { type Harness, LOCATION, PROJECT, startHarness } from '../kms/helpers.ts';

const NAME = 'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1';

/** An error as @google-cloud/kms rejects with it. */
const grpcError = (code: number, details: string) =>
  Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details });

/** Cloud KMS's answer to an identity no role (yet) grants the permission (AIP-211 wording). */
const denial = (method: string, name: string) =>
  grpcError(
    status.PERMISSION_DENIED,
    `Permission 'cloudkms.cryptoKeyVersions.${method === 'AsymmetricSign' ? 'useToSign' : 'viewPublicKey'}' denied on resource '${name}' (or it may not exist).`,
  );

describe('KMS errors, classified', () => {
  it('PERMISSION_DENIED is retryable, still a key sigsentry cannot use now; NOT_FOUND is permanent', () => {
    for (const method of ['GetPublicKey', 'AsymmetricSign', 'GetCryptoKeyVersion']) {
      const denied = kmsError(denial(method, NAME), NAME, method);
      assert.ok(denied instanceof KmsPermissionDeniedError, `${method}: ${denied.name}`);
      assert.ok(denied instanceof KmsKeyUnusableError, 'reverifyImages and monitorLog still stop on it');
      assert.equal(isRetryable(denied), true);
      assert.equal(denied.code, 'KMS_PERMISSION_DENIED');
      assert.deepEqual(
        [denied.details['keyVersion'], denied.details['method'], denied.details['grpcCode']],
        [NAME, method, status.PERMISSION_DENIED],
      );
      assert.match(denied.message, /cloudkms\.cryptoKeyVersions\..* denied/);
    }
    const missing = kmsError(grpcError(status.NOT_FOUND, `${NAME} not found.`), NAME, 'GetPublicKey');
    assert.ok(missing instanceof KmsKeyUnusableError && !(missing instanceof KmsPermissionDeniedError));
    assert.equal(isRetryable(missing), false);
    assert.equal((missing as KmsKeyUnusableError).code, 'KMS_KEY_UNUSABLE');
  });
});

describe('signOnPush while KMS denies its key version', () => {
  let h: Harness;
  let reg: TestRegistry;
  let registry: RegistryClient;
  let keyVersion: string;

  before(async () => {
    h = await startHarness();
    reg = await startRegistry();
    registry = new RegistryClient({ allowedHosts: [reg.host] });
    ({ keyVersion } = await ensureP256SigningKey(h.client, {
      project: PROJECT,
      location: LOCATION,
      keyRing: 'iam',
      key: 'signing',
    }));
  });
  // Skipping what never started: a registry that failed to start (none installed) must not leave
  // the harness running, which would hang the file, not fail it.
  after(async () => {
    await reg?.stop();
    await h?.stop();
  });

  /**
   * The function's core and entry over a KMS client (of its own, so no public key is cached) that
   * answers PERMISSION_DENIED to the methods in `denied` (GetPublicKey, AsymmetricSign) until they
   * are taken out: a grant propagating.
   */
  function signOnPush(denied: Set<string>, maxAttempts = 10) {
    const client = h.newClient();
    const deny = <R>(method: string, call: () => Promise<R>): Promise<R> =>
      denied.has(method) ? Promise.reject(denial(method, keyVersion)) : call();
    const kms: KmsApi = {
      getPublicKey: (r, o) => deny('GetPublicKey', () => client.getPublicKey(r, o)),
      asymmetricSign: (r, o) => deny('AsymmetricSign', () => client.asymmetricSign(r, o)),
      getCryptoKeyVersion: (r, o) => deny('GetCryptoKeyVersion', () => client.getCryptoKeyVersion(r, o)),
    };
    const config: SignOnPushConfig = {
      project: 'p',
      watch: [
        {
          repositories: `${reg.host}/team/**`,
          key: keyVersion,
          formats: ['cosign'],
          signPlatformManifests: false,
        },
      ],
      log: { kind: 'none' },
      annotations: {},
      maxAttempts,
    };
    const store = new MemorySigningStore();
    const raised: AlertInput[] = [];
    const logger = createMemoryLogger();
    const core = createSignOnPush({
      config,
      registry,
      store,
      signerFor: (name) => new KmsSigner({ client: kms, keyVersion: name, callOptions: { maxRetries: 0 } }),
      witness: undefined,
      lock: new InProcessSubjectLock(),
      alerts: { raise: async (a) => void raised.push(a), resolve: async () => {} },
      instanceId: 'unit',
    });
    const entry = createSignOnPushEntry({ logger, core });
    /** One delivery: the error Pub/Sub sees (it redelivers), or undefined once it is acknowledged. */
    const deliver = (image: string) =>
      entry(gcrEvent({ action: 'INSERT', digest: image })).then(
        () => undefined,
        (err: unknown) => err,
      );
    return { deliver, store, raised, logger };
  }

  it('is redelivered, unalerted, until the grant arrives; then the push is signed', async () => {
    const denied = new Set(['GetPublicKey', 'AsymmetricSign']);
    const { deliver, store, raised, logger } = signOnPush(denied);
    const pushed = await reg.pushImage('team/propagating', 'v1', 'kms-denied-propagating');
    const image = `${reg.host}/team/propagating@${pushed.digest}`;

    for (let delivery = 1; delivery <= 3; delivery++) {
      const err = await deliver(image);
      assert.ok(err instanceof KmsPermissionDeniedError, `delivery ${delivery}: ${String(err)}`);
      assert.equal(isRetryable(err), true, 'Pub/Sub redelivers it');
    }
    assert.deepEqual(raised, [], 'no alert while it is retried');
    assert.equal(store.claims, 0, 'the key is read before any record is claimed: no attempt spent');
    const failures = logger.entries.filter(
      (e) => e.message === 'signing attempt failed; Pub/Sub will redeliver',
    );
    assert.equal(failures.length, 3, 'an ERROR line per delivery');
    for (const line of failures) {
      assert.equal(line.severity, 'ERROR', 'not ALERT: a retry does not page');
      assert.equal((line['error'] as { code?: string }).code, 'KMS_PERMISSION_DENIED');
      assert.equal((line['error'] as { keyVersion?: string }).keyVersion, keyVersion);
    }

    denied.clear(); // the grant reaches KMS
    assert.equal(await deliver(image), undefined, 'acknowledged');
    assert.equal(store.records.get(image)?.state, 'attached');
    const signatures = await readCosignSignatures(registry, {
      host: reg.host,
      repository: 'team/propagating',
      digest: pushed.digest,
    });
    assert.equal(signatures.length, 1, 'signed once the grant arrived');
    assert.deepEqual(raised, []);
  });

  it('that never ends: retried up to the attempts, then one signing-failed alert naming the denial', async () => {
    // The public key may be read (roles/cloudkms.publicKeyViewer), signing is denied: each attempt
    // claims the record, so the attempts are counted.
    const maxAttempts = 3;
    const { deliver, store, raised } = signOnPush(new Set(['AsymmetricSign']), maxAttempts);
    const pushed = await reg.pushImage('team/denied', 'v1', 'kms-denied-for-good');
    const image = `${reg.host}/team/denied@${pushed.digest}`;

    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const err = await deliver(image);
      assert.ok(err instanceof KmsPermissionDeniedError, `attempt ${attempt}: ${String(err)}`);
      assert.deepEqual(raised, [], `no alert on attempt ${attempt}`);
    }
    assert.equal(await deliver(image), undefined, 'given up: acknowledged');
    assert.equal(raised.length, 1, 'one alert');
    const [alert] = raised;
    assert.equal(alert?.kind, 'signing-failed');
    assert.equal(alert?.severity, 'HIGH');
    assert.equal(alert?.subject, image);
    assert.match(alert!.summary, new RegExp(`gave up signing .* after ${maxAttempts} attempts`));
    const lastError = alert?.evidence['lastError'] as Record<string, unknown>;
    assert.equal(lastError['code'], 'KMS_PERMISSION_DENIED');
    assert.equal(lastError['keyVersion'], keyVersion);
    assert.match(String(lastError['message']), /cloudkms\.cryptoKeyVersions\.useToSign' denied/);
    assert.notEqual(store.records.get(image)?.state, 'attached');
  });
});
