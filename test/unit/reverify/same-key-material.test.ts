/**
 * One key met twice in reverifyImages' configuration (review findings, 2026-12-03): a KMS key
 * version's public key also listed as a PEM in `publicKeys`, and a kept public key
 * (reverify-keys) that is another trusted key written with a compressed EC point. A PEM has no key
 * version, so no state is checked for it: it gives way to the KMS key it is, and a disabled key's
 * images are key-disabled on any instance. Keys are compared by their material, not their DER.
 */
import assert from 'node:assert/strict';
import crypto, { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { loadReverifyConfig } from '../../../functions/reverify/config.ts';
import { type ReverifySummary, reverifyOnce } from '../../../functions/reverify/core.ts';
import { type KeptKey, MemoryKeptKeyStore } from '../../../functions/reverify/kept-keys.ts';
import { ownedPolicies } from '../../../functions/reverify/owned-policies.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { kmsError } from '../../../functions/signing/kms-signer.ts';
import { LocalSigner } from '../../../functions/signing/local-signer.ts';
import { expectedKeyFromPem } from '../../../functions/verify/policy.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { signImage } from '../verify/sign.ts';
import { RecordingAlertSink } from './recording-sink.ts';

const kv = (n: string) => `projects/p/locations/global/keyRings/r/cryptoKeys/${n}/cryptoKeyVersions/1`;
const refusedAs = (state: string, name: string) =>
  kmsError(
    Object.assign(new Error(`9 ${name} is not enabled, current state is: ${state}.`), {
      code: status.FAILED_PRECONDITION,
      details: `${name} is not enabled, current state is: ${state}.`,
    }),
    name,
    'GetPublicKey',
  );
function localKey(n: string) {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signer = new LocalSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  return { name: kv(n), signer, pem: signer.publicKeyPem };
}
/** The same P-256 key as SPKI PEM with a compressed point. */
function compressedPem(pem: string): string {
  const key = crypto.createPublicKey(pem);
  const der = key.export({ type: 'spki', format: 'der' });
  const jwk = key.export({ format: 'jwk' });
  const x = Buffer.from(jwk.x!, 'base64url');
  const y = Buffer.from(jwk.y!, 'base64url');
  const point = Buffer.concat([Buffer.from([y[31]! & 1 ? 3 : 2]), x]);
  const algid = der.subarray(2, 4 + der[3]!);
  const body = Buffer.concat([algid, Buffer.from([0x03, point.length + 1, 0]), point]);
  const c = Buffer.concat([Buffer.from([0x30, body.length]), body]);
  return crypto
    .createPublicKey({ key: c, format: 'der', type: 'spki' })
    .export({ type: 'spki', format: 'pem' })
    .toString();
}
const fakeKms =
  (keys: Array<{ name: string; pem: string }>, refused: Map<string, string>) => async (name: string) => {
    const state = refused.get(name) ?? 'ENABLED';
    if (state !== 'ENABLED') throw refusedAs(state, name);
    const pem = keys.find((k) => k.name === name)!.pem;
    return { ...expectedKeyFromPem(pem, name), pem, algorithm: 'EC_SIGN_P256_SHA256' };
  };

describe('one key under two encodings or two entries of the configuration', () => {
  let registry: TestRegistry;
  let client: RegistryClient;
  const keyA = localKey('rv-a');
  const keyB = localKey('rv-b');
  const refused = new Map<string, string>();
  const states = new Map<string, string>();
  before(async () => {
    registry = await startRegistry();
    client = new RegistryClient({ allowedHosts: [registry.host] });
    for (const [repository, key] of [
      ['a/app', keyA],
      ['b/app', keyB],
      ['b/copied', keyA], // signed by A's key (rule A's) but pushed under rule B's glob
    ] as const) {
      const pushed = await registry.pushImage(repository, 'v1', repository);
      await signImage(
        { registry: client, signer: key.signer, rekorUrl: undefined },
        { host: registry.host, repository, digest: pushed.digest },
      );
    }
  });
  after(async () => {
    await registry?.stop();
  });
  const ref = (r: string) => `${registry.host}/${r}:v1`;
  const statusOf = (s: ReverifySummary, r: string) => s.outcomes.find((o) => o.ref === ref(r))?.status;

  const runtime = async (doc: object, keptKeys: MemoryKeptKeyStore, logger = createMemoryLogger()) => {
    const config = loadReverifyConfig({
      SIGSENTRY_CONFIG: JSON.stringify({ project: 'p', log: { kind: 'none' }, ...doc }),
    });
    const store = new MemoryTagStore();
    const alerts = new RecordingAlertSink();
    const policies = await ownedPolicies(config, fakeKms([keyA, keyB], refused), { keptKeys, logger });
    const pass = async () => {
      const { ownedPolicy, keys } = await policies.forPass();
      return {
        keys,
        summary: await reverifyOnce({
          registry: client,
          store,
          alerts,
          trust: { logs: [] },
          ownedPolicy,
          ownedKeys: keys,
          watch: config.watch.map((r) => r.repositories),
          watchlist: [],
          keyState: async (n) => states.get(n) ?? 'ENABLED',
          logger,
          concurrency: 2,
        }),
      };
    };
    return { pass, logger, alerts };
  };

  it('a KMS key version whose PEM is also in publicKeys: its images are key-disabled on a fresh instance as on a warm one, never valid', async () => {
    const doc = {
      watch: [
        { repositories: `${registry.host}/a/**`, key: keyA.name },
        { repositories: `${registry.host}/b/**`, key: keyB.name },
      ],
      publicKeys: [keyB.pem],
    };
    const kept = new MemoryKeptKeyStore();
    const warm = await runtime(doc, kept);
    assert.equal(statusOf((await warm.pass()).summary, 'b/app'), 'valid');
    refused.set(keyB.name, 'DISABLED');
    states.set(keyB.name, 'DISABLED');
    try {
      assert.equal(statusOf((await warm.pass()).summary, 'b/app'), 'key-disabled');
      const fresh = await (await runtime(doc, kept)).pass();
      assert.equal(statusOf(fresh.summary, 'b/app'), 'key-disabled');
      assert.deepEqual(fresh.summary.keysNotEnabled, [
        { keyVersion: keyB.name, state: 'DISABLED', trusted: true },
      ]);
    } finally {
      refused.clear();
      states.clear();
    }
  });

  it('a kept key that is another trusted key is not used, whatever the encoding of its point', async () => {
    const doc = {
      watch: [
        { repositories: `${registry.host}/a/**`, key: keyA.name },
        { repositories: `${registry.host}/b/**`, key: keyB.name },
      ],
    };
    for (const pem of [keyA.pem, compressedPem(keyA.pem)]) {
      const kept = new MemoryKeptKeyStore();
      const entry: KeptKey = { keyVersion: keyB.name, pem, readAt: '2026-01-01T00:00:00.000Z' };
      kept.keys.set(keyB.name, entry);
      refused.set(keyB.name, 'DISABLED');
      states.set(keyB.name, 'DISABLED');
      try {
        const rt = await runtime(doc, kept);
        const { keys, summary } = await rt.pass();
        const what = pem === keyA.pem ? 'as KMS writes it' : 'compressed';
        assert.equal(keys.unavailable[0]?.kept, undefined, what);
        assert.ok(
          rt.logger.entries.some((e) => /is that of another trusted key/.test(String(e.message))),
          what,
        );
        // Signed with A's key under rule B: not passed off as B's (kept) key's signature.
        assert.equal(statusOf(summary, 'b/copied'), 'unsigned', what);
        assert.equal(statusOf(summary, 'a/app'), 'valid', what);
      } finally {
        refused.clear();
        states.clear();
      }
    }
  });
});
