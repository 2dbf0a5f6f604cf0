/**
 * signOnPush with the KMS signer as the function wires it (sign-on-push/from-env.ts, its KMS client on
 * the KMS emulator, its RekorWitness on the Rekor emulator) and a real registry: a key version of an
 * algorithm sigsentry does not sign with is refused before anything is signed, logged or attached,
 * with one alert and no retries; the supported ones sign both formats, which verify.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ensureSigningKey } from '../../../emulators/kms/setup.ts';
import type { AlertInput } from '../../../functions/alerts/alert.ts';
import { readCosignSignatures } from '../../../functions/attach/cosign-layout.ts';
import { InProcessSubjectLock } from '../../../functions/attach/lock.ts';
import { listBundleReferrers } from '../../../functions/attach/referrer.ts';
import { isRetryable } from '../../../functions/errors.ts';
import { toNotification } from '../../../functions/events/gcr-message.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { createSignOnPush } from '../../../functions/sign-on-push/core.ts';
import { createSignOnPushEntry } from '../../../functions/sign-on-push/entry.ts';
import { signOnPushDepsFromEnv } from '../../../functions/sign-on-push/from-env.ts';
import { KmsKeyUnusableError } from '../../../functions/signing/errors.ts';
import { expectedKeyFromPem } from '../../../functions/verify/policy.ts';
import { logKey } from '../../../functions/verify/trust.ts';
import { verifyImage } from '../../../functions/verify/verifier.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';
import { gcrEvent, MemorySigningStore } from '../../helpers/sign-on-push-core.ts';
import { type Harness, LOCATION, PROJECT, startHarness } from '../kms/helpers.ts';

/** functions/signing/algorithms.ts SIGNING_ALGORITHMS, as established by test/unit/kms/signing-algorithms.test.ts. */
const SIGNING_ALGORITHMS = [
  'EC_SIGN_P256_SHA256',
  'RSA_SIGN_PKCS1_2048_SHA256',
  'RSA_SIGN_PKCS1_3072_SHA256',
  'RSA_SIGN_PKCS1_4096_SHA256',
];

describe('signOnPush and the algorithm of its KMS key version', () => {
  let h: Harness;
  let log: TestLog;
  let reg: TestRegistry;
  let registry: RegistryClient;

  before(async () => {
    h = await startHarness();
    log = await startTestLog('sign-on-push-algorithm-rekor', { unrelatedFirstEntry: true });
    reg = await startRegistry();
    registry = new RegistryClient({ allowedHosts: [reg.host] });
  });
  // In reverse order of start, skipping what never started: a registry that failed to start (none
  // installed) must not leave the harness and log running, which would hang the file, not fail it.
  after(async () => {
    await reg?.stop();
    await log?.stop();
    await h?.stop();
  });

  const keyOf = (algorithm: string) =>
    ensureSigningKey(h.client, {
      project: PROJECT,
      location: LOCATION,
      keyRing: 'sign-on-push',
      key: algorithm.toLowerCase().replaceAll('_', '-'),
      algorithm,
    });

  const treeSize = async (): Promise<number> =>
    ((await (await fetch(`${log.rekor.url}/api/v1/log`)).json()) as { treeSize: number }).treeSize;

  /** The core as the function builds it from its environment; records, alerts and lock in memory. */
  function core(
    keyVersion: string,
    repository: string,
    formats = 'bundle,cosign',
    store = new MemorySigningStore(),
  ) {
    const deps = signOnPushDepsFromEnv({
      GCP_PROJECT: 'p',
      SIGSENTRY_WATCH: `${reg.host}/${repository}`,
      SIGSENTRY_FORMATS: formats,
      KMS_KEY: keyVersion,
      KMS_ENDPOINT: h.emulator.endpoint,
      REKOR_URL: log.rekor.url,
      // The log's answers are verified against its key (sign-on-push/verified-witness.ts).
      REKOR_PUBLIC_KEY: log.rekor.publicKeyPem,
    });
    const raised: AlertInput[] = [];
    const signOnPush = createSignOnPush({
      ...deps,
      registry,
      store,
      lock: new InProcessSubjectLock(),
      alerts: { raise: async (a) => void raised.push(a), resolve: async () => {} },
      instanceId: 'unit',
    });
    return { signOnPush, store, raised };
  }

  for (const algorithm of ['EC_SIGN_P384_SHA384', 'RSA_SIGN_PSS_2048_SHA256', 'EC_SIGN_ED25519']) {
    it(`refuses a key version of ${algorithm} before anything is signed, logged or attached: one alert, no retry`, async () => {
      const keyVersion = await keyOf(algorithm);
      const repository = `refused/${algorithm.toLowerCase()}`;
      const { signOnPush, store, raised } = core(keyVersion, repository);
      const pushed = await reg.pushImage(repository, 'v1');
      const image = { host: reg.host, repository, digest: pushed.digest };
      const imageRef = `${reg.host}/${repository}@${pushed.digest}`;
      const signs = h.emulator.faults.calls['AsymmetricSign'] ?? 0;
      const logSize = await treeSize();

      // What the function does with it: acknowledged (no redelivery), one ERROR line.
      const logger = createMemoryLogger();
      const entry = createSignOnPushEntry({ logger, core: signOnPush });
      await entry(gcrEvent({ action: 'INSERT', digest: imageRef }));
      assert.equal(logger.entries.filter((e) => e.message === 'refused gcr event').length, 1);

      // What the core raised, seen directly.
      const err = await signOnPush
        .handle(toNotification({ action: 'INSERT', digest: imageRef }), {
          logger: createMemoryLogger(),
          messageId: 'm2',
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      assert.ok(err instanceof KmsKeyUnusableError, String(err));
      assert.equal(isRetryable(err), false);
      for (const named of [keyVersion, algorithm, ...SIGNING_ALGORITHMS]) {
        assert.ok(err.message.includes(named), `the error names ${named}: ${err.message}`);
      }

      assert.equal(raised.length, 2, 'one alert per delivery, none of them after retries');
      for (const alert of raised) {
        assert.equal(alert.kind, 'signing-failed');
        assert.equal(alert.severity, 'HIGH');
        assert.equal(alert.subject, imageRef);
        assert.match(alert.summary, /will not be retried/);
        assert.ok(alert.summary.includes(algorithm) && alert.summary.includes(keyVersion), alert.summary);
      }
      assert.equal((h.emulator.faults.calls['AsymmetricSign'] ?? 0) - signs, 0, 'nothing signed');
      assert.equal(await treeSize(), logSize, 'nothing logged');
      assert.equal((await readCosignSignatures(registry, image)).length, 0, 'no .sig layer');
      assert.equal((await listBundleReferrers(registry, image)).descriptors.length, 0, 'no referrer');
      // Refused before a record is claimed: nothing left claimed for later pushes to count against.
      assert.equal(store.records.get(imageRef), undefined, 'no signing record');
    });
  }

  it('never replays into the log a signature an earlier attempt stored with such a key version', async () => {
    const keyVersion = await keyOf('EC_SIGN_P384_SHA384');
    const repository = 'refused/replay';
    const pushed = await reg.pushImage(repository, 'v1');
    const imageRef = `${reg.host}/${repository}@${pushed.digest}`;
    // An attempt before this fix signed the cosign payload and stored the signature, then the log
    // refused its entry: the record holds the signature to replay.
    const payload = Buffer.from(
      JSON.stringify({
        critical: { identity: { 'docker-reference': `${reg.host}/${repository}` } },
        optional: {},
      }),
    );
    const [signed] = await h.client.asymmetricSign({
      name: keyVersion,
      digest: { sha384: crypto.createHash('sha384').update(payload).digest() },
    });
    const store = new MemorySigningStore();
    const now = Date.now();
    store.records.set(imageRef, {
      schemaVersion: 1,
      image: imageRef,
      digest: pushed.digest,
      keyVersion,
      state: 'claimed',
      attempts: 1,
      lease: null,
      formats: {
        cosign: {
          signature: Buffer.from(signed.signature!).toString('base64'),
          signedBytes: payload.toString('base64'),
        },
      },
      tags: [],
      createdAt: now,
      updatedAt: now,
    });
    const { signOnPush, raised } = core(keyVersion, repository, 'cosign', store);
    const logSize = await treeSize();
    await assert.rejects(
      signOnPush.handle(toNotification({ action: 'INSERT', digest: imageRef }), {
        logger: createMemoryLogger(),
        messageId: 'm1',
      }),
      (err) => {
        assert.ok(err instanceof KmsKeyUnusableError, String(err));
        assert.equal(err.details['algorithm'], 'EC_SIGN_P384_SHA384');
        return true;
      },
    );
    assert.equal(await treeSize(), logSize, 'nothing logged');
    assert.deepEqual(
      raised.map((a) => a.kind),
      ['signing-failed'],
    );
  });

  for (const algorithm of SIGNING_ALGORITHMS) {
    it(`signs with a key version of ${algorithm} in both formats, and both verify`, async () => {
      const keyVersion = await keyOf(algorithm);
      const repository = `signed/${algorithm.toLowerCase()}`;
      const { signOnPush, raised } = core(keyVersion, repository);
      const pushed = await reg.pushImage(repository, 'v1');
      const image = { host: reg.host, repository, digest: pushed.digest };
      const outcome = await signOnPush.sign(
        toNotification({ action: 'INSERT', digest: `${reg.host}/${repository}@${pushed.digest}` }),
        createMemoryLogger(),
      );
      assert.equal(outcome.outcome, 'signed');
      assert.deepEqual(raised, []);
      const [pub] = await h.client.getPublicKey({ name: keyVersion });
      const verdict = await verifyImage(
        { registry, trust: { logs: [logKey(log.rekor.url, log.rekor.publicKeyPem)] } },
        image,
        { keys: [expectedKeyFromPem(pub.pem!)], identities: [] },
      );
      assert.equal(verdict.status, 'valid', verdict.reasons.join('; '));
      assert.deepEqual(verdict.findings.map((f) => [f.layout, f.outcome]).sort(), [
        ['bundle', 'valid'],
        ['cosign', 'valid'],
      ]);
    });
  }
});
