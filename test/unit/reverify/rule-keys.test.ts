/**
 * Watch rules signing with different keys (SIGSENTRY_CONFIG), re-verified by the core with the
 * policies reverifyImages builds from the document (owned-policies.ts ownedPolicies): each repository's
 * images against the key of its first matching rule, as signOnPush signs them, and no other rule's.
 * The KMS keys are local keys under KMS key version names; their states come from a map.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { loadReverifyConfig } from '../../../functions/reverify/config.ts';
import { type ReverifySummary, reverifyOnce } from '../../../functions/reverify/core.ts';
import { type KmsKeyFetch, ownedPolicies } from '../../../functions/reverify/owned-policies.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { expectedKeyFromPem, policyId } from '../../../functions/verify/policy.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { localKey as localKmsKey, pushSigned as pushSignedTo } from './key-fixtures.ts';

/** The policy lookup of the first pass of a runtime built from `config`. */
async function firstPassPolicies(config: ReturnType<typeof loadReverifyConfig>, kmsKey: KmsKeyFetch) {
  return (await (await ownedPolicies(config, kmsKey)).forPass()).ownedPolicy;
}

describe('reverifyImages with a key per watch rule', () => {
  let registry: TestRegistry;
  let client: RegistryClient;
  const keyA = localKmsKey('a');
  const keyB = localKmsKey('b');
  const states = new Map<string, string>();
  const store = new MemoryTagStore();
  const alerts = new RecordingAlertSink();
  const fetched: string[] = [];
  /** KMS's getPublicKey, for the two local keys. */
  const kmsKey = async (name: string) => {
    fetched.push(name);
    const key = [keyA, keyB].find((k) => k.name === name);
    if (key === undefined) throw new Error(`no key ${name}`);
    return expectedKeyFromPem(key.signer.publicKeyPem, name);
  };

  before(async () => {
    registry = await startRegistry();
    client = new RegistryClient({ allowedHosts: [registry.host] });
  });
  after(async () => {
    await registry?.stop();
  });

  const ref = (repository: string, tag: string) => `${registry.host}/${repository}:${tag}`;
  const pushSigned = (repository: string, tag: string, key: typeof keyA, seed?: string) =>
    pushSignedTo(registry, client, repository, tag, key, seed);
  /** One pass under a document whose rules give `a/**` and `b/**` these keys. */
  const pass = async (keys: { a: string; b: string }): Promise<ReverifySummary> => {
    const config = loadReverifyConfig({
      SIGSENTRY_CONFIG: JSON.stringify({
        project: 'p',
        watch: [
          { repositories: `${registry.host}/a/**`, key: keys.a },
          { repositories: `${registry.host}/b/**`, key: keys.b },
        ],
        log: { kind: 'none' },
      }),
    });
    const summary = await reverifyOnce({
      registry: client,
      store,
      alerts,
      trust: { logs: [] },
      ownedPolicy: await firstPassPolicies(config, kmsKey),
      watch: config.watch.map((rule) => rule.repositories),
      watchlist: [],
      keyState: async (name) => states.get(name) ?? 'ENABLED',
      logger: createMemoryLogger(),
      concurrency: 4,
    });
    assert.deepEqual(summary.errors, []);
    return summary;
  };
  const outcome = (summary: ReverifySummary, r: string) => summary.outcomes.find((o) => o.ref === r);

  it("passes each repository's images signed with its rule's key, and reports those signed with the other rule's key as unsigned", async () => {
    await pushSigned('a/app', 'v1', keyA);
    await pushSigned('b/app', 'signed-a', keyA);
    await pushSigned('b/app', 'signed-b', keyB);
    // One image in both repositories, each copy signed there with key A.
    await pushSigned('a/app', 'same', keyA, 'same image');
    await pushSigned('b/app', 'same', keyA, 'same image');

    const summary = await pass({ a: keyA.name, b: keyB.name });
    assert.deepEqual(
      summary.outcomes.map((o) => [o.ref, o.status]),
      [
        [ref('a/app', 'same'), 'valid'],
        [ref('a/app', 'v1'), 'valid'],
        [ref('b/app', 'same'), 'unsigned'],
        [ref('b/app', 'signed-a'), 'unsigned'],
        [ref('b/app', 'signed-b'), 'valid'],
      ],
    );
    assert.deepEqual(alerts.openKinds(ref('b/app', 'signed-a')), ['unsigned-image']);
    assert.deepEqual(alerts.openKinds(ref('b/app', 'signed-b')), []);
    assert.match(
      store.records.get(ref('b/app', 'signed-a'))!.reasons[0]!,
      /^no signature by an expected key or identity/,
    );
    assert.deepEqual([...new Set(fetched)].sort(), [keyA.name, keyB.name].sort());
  });

  it("checks the state of each rule's key version", async () => {
    states.set(keyB.name, 'DISABLED');
    try {
      const summary = await pass({ a: keyA.name, b: keyB.name });
      assert.equal(outcome(summary, ref('b/app', 'signed-b'))?.status, 'key-disabled');
      assert.equal(outcome(summary, ref('a/app', 'v1'))?.status, 'valid');
      assert.deepEqual(alerts.openKinds(ref('b/app', 'signed-b')), ['key-disabled']);
    } finally {
      states.delete(keyB.name);
    }
    assert.equal(
      outcome(await pass({ a: keyA.name, b: keyB.name }), ref('b/app', 'signed-b'))?.status,
      'valid',
    );
  });

  it("verifies a repository's tags again when its rule's key changes, rather than trusting their recorded verdicts", async () => {
    const warm = await pass({ a: keyA.name, b: keyB.name });
    assert.equal(outcome(warm, ref('b/app', 'signed-b'))?.cached, true);
    // `b/**` is signed with key A from now on: its recorded verdicts were judged against key B.
    const summary = await pass({ a: keyA.name, b: keyA.name });
    for (const [tag, status] of [
      ['signed-a', 'valid'],
      ['same', 'valid'],
      ['signed-b', 'unsigned'],
    ] as const) {
      assert.deepEqual(outcome(summary, ref('b/app', tag)), {
        ref: ref('b/app', tag),
        digest: store.records.get(ref('b/app', tag))!.digest,
        status,
        changed: true,
        cached: false,
      });
    }
    // Rule A's policy did not change: its verdicts stand, re-checked only.
    assert.equal(outcome(summary, ref('a/app', 'v1'))?.cached, true);
  });
});

describe('the policies of a configuration with one key for every rule', () => {
  const keys = [localKmsKey('one'), localKmsKey('rotated')];
  const kmsKey = async (name: string) => {
    const key = keys.find((k) => k.name === name)!;
    return expectedKeyFromPem(key.signer.publicKeyPem, name);
  };
  const publicKey = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .publicKey.export({ type: 'spki', format: 'pem' })
    .toString();
  /** The one policy reverifyImages had for every watched repository, keyed as its verdicts were. */
  const beforeId = async (names: string[]) =>
    policyId({
      keys: [...(await Promise.all(names.map(kmsKey))), expectedKeyFromPem(publicKey)],
      identities: [],
      requireTlog: false,
    });

  it('are keyed as before, so verdicts recorded before stand (plain variables, and a document)', async () => {
    const plain = loadReverifyConfig({
      GCP_PROJECT: 'p',
      SIGSENTRY_WATCH: 'h.example/p/prod/**,h.example/p/dev/**',
      KMS_KEY: keys.map((k) => k.name).join(','),
      SIGSENTRY_PUBLIC_KEYS: publicKey,
      REKOR_URL: 'none',
    });
    const document = loadReverifyConfig({
      SIGSENTRY_CONFIG: JSON.stringify({
        project: 'p',
        watch: [
          { repositories: 'h.example/p/prod/**', key: keys[0]!.name },
          { repositories: 'h.example/p/dev/**', key: keys[0]!.name },
        ],
        keys: [keys[1]!.name, keys[0]!.name],
        publicKeys: [publicKey],
        log: { kind: 'none' },
      }),
    });
    const expected = await beforeId(keys.map((k) => k.name));
    for (const config of [plain, document]) {
      const policyOf = await firstPassPolicies(config, kmsKey);
      for (const repository of ['h.example/p/prod/api', 'h.example/p/dev/api']) {
        assert.equal(policyId(policyOf(repository)), expected, repository);
      }
      assert.equal(policyOf('h.example/p/prod/api'), policyOf('h.example/p/prod/web'), 'one object per rule');
    }
  });
});
