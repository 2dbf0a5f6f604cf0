/**
 * Signatures logged in a sharded Rekor v1 log (as the public one is: entries numbered across
 * shards, proofs within the active tree) verify, and their inclusion is re-checked, by global index.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { type ReverifyDeps, reverifyOnce } from '../../../functions/reverify/core.ts';
import { InclusionRechecker } from '../../../functions/reverify/inclusion.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { MemoryUnverifiedStore } from '../../../functions/reverify/unverified.ts';
import { LocalSigner } from '../../../functions/signing/local-signer.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import { expectedKeyFromPem } from '../../../functions/verify/policy.ts';
import { logKey } from '../../../functions/verify/trust.ts';
import { appendFillerEntry } from '../../helpers/hashedrekord.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';
import { signImage } from '../../helpers/sign-image.ts';

const FROZEN = 5000;

describe('reverifyOnce on a sharded Rekor v1 log', () => {
  let registry: TestRegistry;
  let log: TestLog;
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signer = new LocalSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());

  before(async () => {
    registry = await startRegistry();
    log = await startTestLog('reverify-sharded', { inactiveShardSize: FROZEN });
  });
  after(async () => {
    await registry.stop();
    await log.stop();
  });

  it('calls both layouts valid, proves their entries by global index, and re-checks them as the log grows', async () => {
    const client = new RegistryClient({ allowedHosts: [registry.host] });
    const pushed = await registry.pushImage('sharded/app', 'v1');
    const image = { host: registry.host, repository: 'sharded/app', digest: pushed.digest };
    await signImage({ registry: client, signer, rekorUrl: log.rekor.url }, image);
    const logClient = new RekorV1Client({ baseUrl: log.rekor.url, logKey: log.rekor.publicKeyPem });
    const store = new MemoryTagStore();
    const deps = (): ReverifyDeps => ({
      registry: client,
      store,
      unverified: new MemoryUnverifiedStore(),
      alerts: new MemoryAlertSink(),
      trust: { logs: [logKey(log.rekor.url, log.rekor.publicKeyPem)] },
      ownedPolicy: { keys: [expectedKeyFromPem(signer.publicKeyPem)], identities: [] },
      watch: [`${registry.host}/sharded/**`],
      watchlist: [],
      inclusion: new InclusionRechecker({ client: logClient, baseUrl: log.rekor.url }),
      logger: createMemoryLogger(),
    });
    const ref = `${registry.host}/sharded/app:v1`;
    const first = await reverifyOnce(deps());
    assert.deepEqual(first.errors, []);
    assert.deepEqual(
      first.outcomes.map((o) => [o.ref, o.status]),
      [[ref, 'valid']],
    );
    const record = store.records.get(ref)!;
    assert.deepEqual(record.verifiedLayouts, ['bundle', 'cosign']);
    const evidence = record.findings.flatMap((f) => f.log ?? []);
    assert.equal(evidence.length, 2);
    const size = (await logClient.getCheckpoint()).size;
    for (const e of evidence) {
      assert.ok(e.logIndex >= FROZEN, `entry ${e.logIndex} named by its global index`);
      assert.equal(e.provenAtTreeSize, size, 'proven in the active tree');
    }
    // An entry the log's checkpoint holds (by global index: the frozen shard's size on) and leaves
    // out of its answer is lost, not "beyond the checkpoint".
    const leftOut: typeof fetch = async () =>
      new Response('[]', { status: 200, headers: { 'content-type': 'application/json' } });
    const { provenAtTreeSize: _s, provenAtRoot: _r, ...unrecorded } = evidence[0]!;
    const lost = await new InclusionRechecker({
      client: logClient,
      baseUrl: log.rekor.url,
      fetch: leftOut,
    }).recheck(unrecorded);
    assert.equal(lost?.ok, false);
    assert.match(lost!.reason!, /is not in the log/);
    await appendFillerEntry(log.rekor.url, 'the sharded log grows');
    const later = await reverifyOnce(deps());
    assert.deepEqual(
      later.outcomes.map((o) => [o.ref, o.status, o.cached]),
      [[ref, 'valid', true]],
    );
  });
});
