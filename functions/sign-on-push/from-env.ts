/**
 * Builds signOnPush's clients from the environment, once per function instance: the real Google
 * clients (Firestore, KMS), the registry client with the watched hosts as its allowlist, and the
 * Rekor witness, whose answers are verified against the log's key (verified-witness.ts) before
 * anything is stored. Locally KMS_ENDPOINT points the KMS client at the emulator, and
 * REKOR_PUBLIC_KEY_FILE gives the emulator's key.
 */
import { Firestore } from '@google-cloud/firestore';
import { RekorWitness, type Witness } from '@sigstore/sign';
import { alertSinkFromEnv } from '../alerts/from-env.ts';
import { FirestoreSubjectLock } from '../attach/firestore-subject-lock.ts';
import { InProcessSubjectLock, NestedSubjectLock } from '../attach/lock.ts';
import { firestoreSettings } from '../config/firestore.ts';
import { withV1LogKey } from '../config/shared-document.ts';
import { type LogConfig, loadSignOnPushConfig, watchedHost } from '../config/sign-config.ts';
import { InvalidInputError } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import { RegistryClient } from '../registry/client.ts';
import { googleRegistryAuthorization } from '../registry/google-auth.ts';
import { createKmsClient } from '../signing/kms-client.ts';
import { KmsSigner } from '../signing/kms-signer.ts';
import { FirestoreDeletionStore } from '../state/deletion-records.ts';
import { FirestoreSigningStore } from '../state/signing-records.ts';
import { type LogKey, logKey } from '../verify/trust.ts';
import type { KeyedSigner, SignOnPushDeps } from './core.ts';
import { timedLock } from './dependency-calls.ts';
import { VerifiedRekorWitness } from './verified-witness.ts';

/**
 * The key of the log signOnPush logs to, as reverifyImages finds it (withV1LogKey): the
 * SIGSENTRY_CONFIG document's `log.publicKey` when it gives one; otherwise REKOR_PUBLIC_KEY, the file
 * REKOR_PUBLIC_KEY_FILE names, or the public-good trusted root's key for rekor.sigstore.dev. Any
 * other log without a key stops signOnPush at start-up, naming the variable.
 */
function signingLogKey(log: Extract<LogConfig, { kind: 'rekor-v1' }>, env: NodeJS.ProcessEnv): string {
  const key = (withV1LogKey(log, env) as { publicKey?: unknown }).publicKey;
  if (typeof key !== 'string' || key === '') {
    throw new InvalidInputError("SIGSENTRY_CONFIG: log.publicKey must be the log's public key (PEM)");
  }
  return key;
}

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
  let signingLog: LogKey | undefined;
  if (config.log.kind === 'rekor-v2') {
    // Refused by loadSignOnPushConfig already; never signed into without a witness of its own.
    throw new InvalidInputError('signOnPush signs into a Rekor v1 log only');
  }
  if (config.log.kind === 'rekor-v1') {
    const pem = signingLogKey(config.log, env);
    witness = new VerifiedRekorWitness({
      inner: new RekorWitness({
        rekorBaseURL: config.log.url,
        entryType: 'dsse',
        majorApiVersion: 1,
        fetchOnConflict: true,
        retry: { retries: 2 },
        timeout: 15_000,
      }),
      url: config.log.url,
      logKey: pem,
    });
    // Read by the witness above, which refuses a key that is not one with a clear error.
    signingLog = logKey(config.log.url, pem);
  }
  const allowedHosts = [...new Set(config.watch.map(watchedHost))];
  const firestore = new Firestore(firestoreSettings(env, config.project));
  return {
    config,
    registry: new RegistryClient({ allowedHosts, authorization: googleRegistryAuthorization() }),
    store: new FirestoreSigningStore(firestore),
    deletions: new FirestoreDeletionStore(firestore),
    alerts: alertSinkFromEnv(env, { firestore, ...(logger ? { logger } : {}), ...opts }),
    signerFor,
    witness,
    ...(signingLog ? { signingLog } : {}),
    // In-process first (concurrent deliveries in this instance queue in memory), then the Firestore
    // lease that other instances honour too, its round trips timed as dependency calls.
    lock: new NestedSubjectLock(
      new InProcessSubjectLock(),
      timedLock(new FirestoreSubjectLock(firestore, logger ? { logger } : {})),
    ),
  };
}
