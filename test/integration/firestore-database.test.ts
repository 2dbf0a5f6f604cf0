/**
 * FIRESTORE_DATABASE on the Firestore emulator: a signing record claimed through signOnPush's own
 * store, and an alert raised through the alert pipeline, both built from an environment naming a
 * database, land in that database and not in `(default)`, where another installation in the project
 * keeps its state. The clients are the functions' own (signOnPushDepsFromEnv, alertSinkFromEnv), so
 * this checks the call sites, not only the settings.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { alertDocumentId } from '../../functions/alerts/alert.ts';
import { ALERTS_COLLECTION } from '../../functions/alerts/firestore-sink.ts';
import { alertSinkFromEnv } from '../../functions/alerts/from-env.ts';
import { firestoreSettings } from '../../functions/config/firestore.ts';
import { createLogger } from '../../functions/logging/logger.ts';
import { signOnPushDepsFromEnv } from '../../functions/sign-on-push/from-env.ts';
import { recordId, SIGNING_RECORDS } from '../../functions/state/signing-records.ts';
import { type TestStack, testStack } from '../helpers/stack.ts';

describe('FIRESTORE_DATABASE on the emulator', () => {
  // A database no other test (nor a previous run) writes to.
  const database = `sigsentry-it-${crypto.randomBytes(4).toString('hex')}`;
  let stack: TestStack;
  let env: NodeJS.ProcessEnv;
  let named: Firestore;
  let fallback: Firestore;
  let pubsub: PubSub;

  before(() => {
    stack = testStack();
    env = { ...process.env, ...stack.env, FIRESTORE_DATABASE: database, REKOR_URL: 'none' };
    named = new Firestore(firestoreSettings(env, stack.env.GCP_PROJECT));
    fallback = new Firestore(firestoreSettings({}, stack.env.GCP_PROJECT));
    pubsub = new PubSub({ projectId: stack.env.GCP_PROJECT });
  });
  after(async () => {
    await Promise.all([named.terminate(), fallback.terminate(), pubsub.close()]);
  });

  test('the clients name the database: the named one, and (default) without the variable', () => {
    assert.equal(named.databaseId, database);
    assert.equal(fallback.databaseId, '(default)');
  });

  test("a signing record claimed through signOnPush's store lands in the named database, not in (default)", async () => {
    const deps = signOnPushDepsFromEnv(env);
    const id = {
      image: `${stack.env.REGISTRY}/db/${crypto.randomUUID()}@sha256:${crypto.randomBytes(32).toString('hex')}`,
      keyVersion: 'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1',
    };
    const claim = await deps.store.claim(id, 'it', { leaseMs: 60_000, maxAttempts: 5 });
    assert.equal(claim.status, 'claimed');
    const doc = recordId(id.image, id.keyVersion);
    assert.equal((await named.collection(SIGNING_RECORDS).doc(doc).get()).get('attempts'), 1);
    assert.equal((await fallback.collection(SIGNING_RECORDS).doc(doc).get()).exists, false);
    assert.equal((await deps.store.get(id))?.attempts, 1, 'and the store reads it back from there');
  });

  test('an alert raised through the alert pipeline lands in the named database, not in (default)', async () => {
    const sink = alertSinkFromEnv(env, { pubsub, logger: createLogger({ component: 'test' }) });
    const subject = `${stack.env.REGISTRY}/db/${crypto.randomUUID()}:v1`;
    await sink.raise({
      kind: 'signing-failed',
      severity: 'HIGH',
      subject,
      summary: 'written to the named database',
      evidence: { image: subject },
    });
    const doc = alertDocumentId(`signing-failed:${subject}`);
    const stored = await named.collection(ALERTS_COLLECTION).doc(doc).get();
    assert.equal(stored.get('subject'), subject);
    assert.equal(stored.get('state'), 'open');
    assert.equal((await fallback.collection(ALERTS_COLLECTION).doc(doc).get()).exists, false);
  });
});
