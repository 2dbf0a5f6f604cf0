/**
 * The key signOnPush checks its log's answers against (from-env.ts signingLogKey): the
 * SIGSENTRY_CONFIG document's `log.publicKey` when it gives one, else REKOR_PUBLIC_KEY (or the
 * public-good trusted root's key), as in the plain variables. The document is parsed once, by
 * loadSignOnPushConfig, whose v1 log carries the key as written.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { loadSignOnPushConfig } from '../../../functions/config/sign-config.ts';
import { InvalidInputError } from '../../../functions/errors.ts';
import { signOnPushDepsFromEnv } from '../../../functions/sign-on-push/from-env.ts';

const KEY_VERSION = 'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1';
const LOG_URL = 'https://rekor.example';
/** A KMS endpoint of its own, so that building the client probes no metadata server. */
const LOCAL = { GCP_PROJECT: 'p', KMS_ENDPOINT: 'localhost:1' };
const pem = () =>
  generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .publicKey.export({ type: 'spki', format: 'pem' })
    .toString();

/** SIGSENTRY_CONFIG with a v1 log, its `publicKey` as given (none when undefined). */
const documentEnv = (log: Record<string, unknown>, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  ...LOCAL,
  SIGSENTRY_CONFIG: JSON.stringify({
    project: 'p',
    watch: [{ repositories: 'registry.example/team/**', key: KEY_VERSION }],
    log: { kind: 'rekor-v1', url: LOG_URL, ...log },
  }),
  ...extra,
});

const notInRoot = (err: unknown) =>
  err instanceof InvalidInputError &&
  /^the log https:\/\/rekor\.example is not in the Sigstore public-good trusted root: set REKOR_PUBLIC_KEY/.test(
    err.message,
  );

describe("signOnPush's log key", () => {
  it("is the document's log.publicKey when it gives one, over REKOR_PUBLIC_KEY", () => {
    const key = pem();
    assert.deepEqual(loadSignOnPushConfig(documentEnv({ publicKey: key })).log, {
      kind: 'rekor-v1',
      url: LOG_URL,
      publicKey: key,
    });
    assert.ok(signOnPushDepsFromEnv(documentEnv({ publicKey: key })).witness, 'without REKOR_PUBLIC_KEY');
    // The document's key is the one checked: one that is no key stops signOnPush, a good
    // REKOR_PUBLIC_KEY notwithstanding.
    assert.throws(
      () => signOnPushDepsFromEnv(documentEnv({ publicKey: 'not a key' }, { REKOR_PUBLIC_KEY: pem() })),
      (err: unknown) =>
        err instanceof InvalidInputError &&
        /^the log key of https:\/\/rekor\.example is not a PEM public key/.test(err.message),
    );
  });

  it('refuses a log.publicKey that is not a string, or empty, naming it', () => {
    for (const publicKey of ['', 42, null, { pem: 'x' }]) {
      assert.throws(
        () => signOnPushDepsFromEnv(documentEnv({ publicKey }, { REKOR_PUBLIC_KEY: pem() })),
        (err: unknown) =>
          err instanceof InvalidInputError &&
          err.message === "SIGSENTRY_CONFIG: log.publicKey must be the log's public key (PEM)",
        JSON.stringify(publicKey),
      );
    }
  });

  it('without log.publicKey, is REKOR_PUBLIC_KEY, and is required for a log outside the trusted root', () => {
    assert.ok(signOnPushDepsFromEnv(documentEnv({}, { REKOR_PUBLIC_KEY: pem() })).witness);
    assert.throws(() => signOnPushDepsFromEnv(documentEnv({})), notInRoot);
  });

  it('in the plain variables, is REKOR_PUBLIC_KEY, and is required for a log outside the trusted root', () => {
    const plain = { ...LOCAL, SIGSENTRY_WATCH: 'registry.example/team/**', KMS_KEY: KEY_VERSION };
    assert.ok(signOnPushDepsFromEnv({ ...plain, REKOR_URL: LOG_URL, REKOR_PUBLIC_KEY: pem() }).witness);
    assert.throws(() => signOnPushDepsFromEnv({ ...plain, REKOR_URL: LOG_URL }), notInRoot);
  });
});
