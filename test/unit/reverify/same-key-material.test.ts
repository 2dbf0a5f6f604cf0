/**
 * One key met twice in reverifyImages' configuration (review findings, 2026-12-03): a KMS key
 * version's public key also listed as a PEM in `publicKeys`, and a kept public key
 * (reverify-keys) that is another trusted key written with a compressed EC point. A PEM has no key
 * version, so no state is checked for it: it gives way to the KMS key it is, and a disabled key's
 * images are key-disabled on any instance. Keys are compared by their material, not their DER.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import type { RegistryClient } from '../../../functions/registry/client.ts';
import { loadReverifyConfig } from '../../../functions/reverify/config.ts';
import { type KeptKey, MemoryKeptKeyStore } from '../../../functions/reverify/kept-keys.ts';
import { ownedPolicies } from '../../../functions/reverify/owned-policies.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import type { TestRegistry } from '../../helpers/registry.ts';
import { fakeKms, localKey, reverifyPass, startSignedRegistry, v1Refs } from './key-fixtures.ts';

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

describe('one key under two encodings or two entries of the configuration', () => {
  let registry: TestRegistry;
  let client: RegistryClient;
  const keyA = localKey('rv-a');
  const keyB = localKey('rv-b');
  const refused = new Map<string, string>();
  const states = new Map<string, string>();
  before(async () => {
    ({ registry, client } = await startSignedRegistry([
      ['a/app', keyA],
      ['b/app', keyB],
      ['b/copied', keyA], // signed by A's key (rule A's) but pushed under rule B's glob
    ]));
  });
  after(async () => {
    await registry?.stop();
  });
  const { statusOf } = v1Refs(() => registry.host);

  const runtime = async (doc: object, keptKeys: MemoryKeptKeyStore, logger = createMemoryLogger()) => {
    const config = loadReverifyConfig({
      SIGSENTRY_CONFIG: JSON.stringify({ project: 'p', log: { kind: 'none' }, ...doc }),
    });
    const store = new MemoryTagStore();
    const alerts = new RecordingAlertSink();
    const policies = await ownedPolicies(config, fakeKms([keyA, keyB], refused).kmsKey, { keptKeys, logger });
    const watch = config.watch.map((r) => r.repositories);
    const pass = async () => {
      const forPass = await policies.forPass();
      return {
        keys: forPass.keys,
        summary: await reverifyPass(forPass, { client, store, alerts, logger, watch, states }),
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
