/**
 * Builds signOnPush's clients from the environment, once per function instance: the real Google
 * clients (Firestore, KMS), the registry client with the watched hosts as its allowlist, and the
 * Rekor witness. Locally KMS_ENDPOINT points the KMS client at the emulator.
 */
import { Firestore } from '@google-cloud/firestore';
import { RekorWitness, type Witness } from '@sigstore/sign';
import { alertSinkFromEnv } from '../alerts/from-env.ts';
import { FirestoreSubjectLock } from '../attach/firestore-subject-lock.ts';
import { InProcessSubjectLock, NestedSubjectLock } from '../attach/lock.ts';
import { firestoreSettings } from '../config/firestore.ts';
import { loadSignOnPushConfig, watchedHost } from '../config/sign-config.ts';
import type { Logger } from '../logging/logger.ts';
import { RegistryClient } from '../registry/client.ts';
import { googleRegistryAuthorization } from '../registry/google-auth.ts';
import { createKmsClient } from '../signing/kms-client.ts';
import { KmsSigner } from '../signing/kms-signer.ts';
import { FirestoreSigningStore } from '../state/signing-records.ts';
import type { KeyedSigner, SignOnPushDeps } from './core.ts';
import { timedLock } from './dependency-calls.ts';

/** `terminal`: built for the CLI, whose alert lines reach the operator, not Cloud Logging. */
export function signOnPushDepsFromEnv(
  env: NodeJS.ProcessEnv,
  logger?: Logger,
  opts: { terminal?: boolean } = {},
): SignOnPushDeps {
  const config = loadSignOnPushConfig(env);
  const kms = createKmsClient(env.KMS_ENDPOINT ? { endpoint: env.KMS_ENDPOINT } : {});
  const signers = new Map<string, KeyedSigner>();
  const signerFor = (keyVersion: string): KeyedSigner => {
    let signer = signers.get(keyVersion);
    if (!signer) {
      const kmsSigner = new KmsSigner({ client: kms, keyVersion });
      signer = {
        sign: (data) => kmsSigner.sign(data),
        // Refused, as sign() is, for an algorithm sigsentry does not sign with: a signature an
        // earlier attempt stored is never replayed into the log under such a key.
        signatureKey: () => kmsSigner.signatureKey(),
      };
      signers.set(keyVersion, signer);
    }
    return signer;
  };
  let witness: Witness | undefined;
  if (config.log.kind !== 'none') {
    witness = new RekorWitness({
      rekorBaseURL: config.log.url,
      entryType: 'dsse',
      majorApiVersion: config.log.kind === 'rekor-v2' ? 2 : 1,
      fetchOnConflict: true,
      retry: { retries: 2 },
      timeout: 15_000,
    });
  }
  const allowedHosts = [...new Set(config.watch.map(watchedHost))];
  const firestore = new Firestore(firestoreSettings(env, config.project));
  return {
    config,
    registry: new RegistryClient({ allowedHosts, authorization: googleRegistryAuthorization() }),
    store: new FirestoreSigningStore(firestore),
    alerts: alertSinkFromEnv(env, { firestore, ...(logger ? { logger } : {}), ...opts }),
    signerFor,
    witness,
    // In-process first (concurrent deliveries in this instance queue in memory), then the Firestore
    // lease that other instances honour too, its round trips timed as dependency calls.
    lock: new NestedSubjectLock(
      new InProcessSubjectLock(),
      timedLock(new FirestoreSubjectLock(firestore, logger ? { logger } : {})),
    ),
  };
}
