/**
 * A key version Cloud KMS is still generating (or importing) is refused as a disabled one is
 * (FAILED_PRECONDITION "… is not enabled, current state is: PENDING_GENERATION."), but KMS marks it
 * ENABLED by itself once it is ready (resources.proto, CryptoKeyVersionState): signOnPush's signer
 * makes that a retryable DependencyError (the push is redelivered, not acknowledged unsigned), while
 * DISABLED, DESTROYED and PENDING_EXTERNAL_DESTRUCTION stay permanent. Through the real client and
 * the emulator, which holds a new version PENDING_GENERATION for a number of calls when told to.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { Faults } from '../../../emulators/kms/faults.ts';
import { DependencyError, isRetryable } from '../../../functions/errors.ts';
import { KmsKeyUnusableError } from '../../../functions/signing/errors.ts';
import { KmsSigner, keyVersionState, kmsError } from '../../../functions/signing/kms-signer.ts';
import { createPendingKeyVersion, ensureP256SigningKey, setKeyVersionState } from '../../helpers/kms.ts';
import { grpcCode, type Harness, LOCATION, PROJECT, startHarness } from './helpers.ts';

const NAME = 'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/2';
const refused = (state: string) =>
  kmsError(
    Object.assign(new Error(`9 FAILED_PRECONDITION: ${NAME} is not enabled, current state is: ${state}.`), {
      code: status.FAILED_PRECONDITION,
      details: `${NAME} is not enabled, current state is: ${state}.`,
    }),
    NAME,
    'AsymmetricSign',
  );

describe('a KMS key version still being generated', () => {
  it('is a retryable DependencyError naming the state; a state only an operator changes is not', () => {
    for (const state of ['PENDING_GENERATION', 'PENDING_IMPORT']) {
      const err = refused(state);
      assert.ok(err instanceof DependencyError, `${state}: ${err.name}`);
      assert.equal(isRetryable(err), true);
      assert.equal(err.details['state'], state);
      assert.equal(err.details['keyVersion'], NAME);
      assert.equal(err.details['grpcCode'], status.FAILED_PRECONDITION);
    }
    for (const state of ['DISABLED', 'DESTROYED', 'DESTROY_SCHEDULED', 'PENDING_EXTERNAL_DESTRUCTION']) {
      const err = refused(state);
      assert.ok(err instanceof KmsKeyUnusableError, `${state}: ${err.name}`);
      assert.equal(isRetryable(err), false);
    }
  });

  describe('through the emulator', () => {
    let h: Harness;
    let keyName: string;
    before(async () => {
      h = await startHarness();
      ({ keyName } = await ensureP256SigningKey(h.client, {
        project: PROJECT,
        location: LOCATION,
        keyRing: 'pending',
        key: 'signing',
      }));
    });
    after(async () => {
      await h?.stop();
    });

    it('answers as Cloud KMS does while the version is generated, then signs once it is ENABLED', async () => {
      const created = await createPendingKeyVersion(h.emulator, h.client, keyName, 2);
      const name = created.name!;
      assert.equal(String(created.state), 'PENDING_GENERATION');
      assert.equal(await keyVersionState(h.client, name), 'PENDING_GENERATION');

      // The raw answer, as the client library gives it.
      const raw = await h.client.getPublicKey({ name }).then(
        () => undefined,
        (err: unknown) => err,
      );
      assert.equal(grpcCode(raw), status.FAILED_PRECONDITION);
      assert.match(
        String((raw as { details?: string }).details),
        new RegExp(`^${name} is not enabled, current state is: PENDING_GENERATION\\.$`),
      );
      // A version still generating may not be enabled or disabled either.
      const update = await setKeyVersionState(h.client, name, 'DISABLED').then(
        () => undefined,
        (err: unknown) => err,
      );
      assert.equal(grpcCode(update), status.FAILED_PRECONDITION);

      // signOnPush's signer: retryable, so the push is redelivered.
      const signer = new KmsSigner({ client: h.newClient(), keyVersion: name });
      const err = await signer.sign(Buffer.from('payload')).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof DependencyError, String(err));
      assert.equal(isRetryable(err), true);
      assert.equal(err.details['state'], 'PENDING_GENERATION');

      // The redelivery finds it ready.
      const signature = await signer.sign(Buffer.from('payload'));
      assert.ok(signature.signature.length > 0);
      assert.equal(await keyVersionState(h.client, name), 'ENABLED');
    });

    it('takes the fault from the admin port only as a whole number of calls', () => {
      assert.equal(Faults.isValid({ newVersionsPendingFor: 3 }), true);
      assert.equal(Faults.isValid({ newVersionsPendingFor: -1 }), false);
      assert.equal(Faults.isValid({ newVersionsPendingFor: 1.5 }), false);
      assert.equal(Faults.isValid({ newVersionsPendingFor: 'always' }), false);
    });
  });
});
