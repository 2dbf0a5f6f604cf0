/**
 * Signatures logged before a Rekor v1 shard rotation stay provable after it: their entries are in a
 * frozen tree, which the log's info lists with its final signed tree head. The re-check proves
 * them there (by consistency with the tree recorded, or by reading the entry), not in the new
 * tree, which cannot hold them.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { type ReverifyDeps, reverifyOnce } from '../../../functions/reverify/core.ts';
import { InclusionRechecker } from '../../../functions/reverify/inclusion.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { MemoryUnverifiedStore } from '../../../functions/reverify/unverified.ts';
import { LocalSigner } from '../../../functions/signing/local-signer.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import type { LogEntry } from '../../../functions/tlog/client/types.ts';
import { expectedKeyFromPem } from '../../../functions/verify/policy.ts';
import { logKey } from '../../../functions/verify/trust.ts';
import type { LogEvidence } from '../../../functions/verify/verdict.ts';
import { appendFillerEntry, hashedRekordProposal } from '../../helpers/hashedrekord.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import {
  clientWithShardListings,
  signedByAnotherKey,
  startTestLog,
  type TestLog,
} from '../../helpers/rekor.ts';
import { signImage } from '../../helpers/sign-image.ts';

describe('reverifyOnce after the Rekor v1 log rotated its shard', () => {
  let registry: TestRegistry;
  let log: TestLog;
  let client: RegistryClient;
  let logClient: RekorV1Client;
  const store = new MemoryTagStore();
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signer = new LocalSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  const alerts = new MemoryAlertSink();

  const deps = (rekor = logClient): ReverifyDeps => ({
    registry: client,
    store,
    unverified: new MemoryUnverifiedStore(),
    alerts,
    trust: { logs: [logKey(log.rekor.url, log.rekor.publicKeyPem)] },
    ownedPolicy: { keys: [expectedKeyFromPem(signer.publicKeyPem)], identities: [] },
    watch: [`${registry.host}/rotated/**`],
    watchlist: [],
    inclusion: new InclusionRechecker({ client: rekor, baseUrl: log.rekor.url }),
    logger: createMemoryLogger(),
  });
  const signed = async (repository: string) => {
    const pushed = await registry.pushImage(repository, 'v1');
    await signImage(
      { registry: client, signer, rekorUrl: log.rekor.url },
      { host: registry.host, repository, digest: pushed.digest },
    );
    return `${registry.host}/${repository}:v1`;
  };
  const statuses = (r: Awaited<ReturnType<typeof reverifyOnce>>) =>
    Object.fromEntries(r.outcomes.map((o) => [o.ref, [o.status, o.cached ?? false]]));
  const evidenceOf = (ref: string) => store.records.get(ref)!.findings.flatMap((f) => f.log ?? []);

  let verifiedBefore = '';
  let signedBefore = '';
  let frozenSize = 0;

  before(async () => {
    registry = await startRegistry();
    log = await startTestLog('reverify-rotation', { unrelatedFirstEntry: true });
    client = new RegistryClient({ allowedHosts: [registry.host] });
    logClient = new RekorV1Client({ baseUrl: log.rekor.url, logKey: log.rekor.publicKeyPem, retries: 0 });
    verifiedBefore = await signed('rotated/verified-before');
    const first = await reverifyOnce(deps());
    assert.deepEqual(statuses(first), { [verifiedBefore]: ['valid', false] });
    signedBefore = await signed('rotated/signed-before'); // first seen after the rotation
    frozenSize = log.rekor.rotateV1().frozenTreeSize;
    await appendFillerEntry(log.rekor.url, 'the new tree grows');
  });
  after(async () => {
    await registry.stop();
    await log.stop();
  });

  it('proves entries of the frozen tree there: verified before, and first seen after', async () => {
    const after = await reverifyOnce(deps());
    assert.deepEqual(after.errors, []);
    assert.deepEqual(statuses(after), {
      [verifiedBefore]: ['valid', true],
      [signedBefore]: ['valid', false],
    });
    for (const ref of [verifiedBefore, signedBefore]) {
      const evidence = evidenceOf(ref);
      assert.equal(evidence.length, 2);
      for (const e of evidence) {
        assert.ok(e.logIndex < frozenSize);
        assert.equal(e.provenAtTreeSize, frozenSize, `${ref}: proven in the frozen tree's final head`);
      }
    }
    assert.deepEqual(alerts.raised, []);
  });

  it('a signature made after the rotation is proven in the new tree', async () => {
    const signedAfter = await signed('rotated/signed-after');
    const pass = await reverifyOnce(deps());
    assert.deepEqual(pass.errors, []);
    assert.deepEqual(statuses(pass)[signedAfter], ['valid', false]);
    const size = (await logClient.getCheckpoint()).size;
    for (const e of evidenceOf(signedAfter)) {
      assert.ok(e.logIndex >= frozenSize, 'numbered on from the frozen tree');
      assert.equal(e.provenAtTreeSize, size);
    }
  });

  it("a frozen tree whose head does not verify under the log's key proves nothing: its signatures are not valid", async () => {
    // Another signature on the frozen tree's head: the log's one trusted key did not sign it.
    const unverifiable = clientWithShardListings(log.rekor, ([shard]) => {
      shard!.signedTreeHead = signedByAnotherKey(shard!.signedTreeHead);
    });
    const pass = new InclusionRechecker({ client: unverifiable, baseUrl: log.rekor.url });
    const [recorded] = evidenceOf(verifiedBefore);
    const {
      provenAtTreeSize: _s,
      provenAtRoot: _r,
      provenAtOrigin: _o,
      ...unrecorded
    } = evidenceOf(signedBefore)[0]!;
    for (const evidence of [recorded!, unrecorded]) {
      const result = await pass.recheck(evidence);
      assert.equal(result?.ok, false);
      assert.match(
        result!.reason!,
        /in the frozen shard "[^"]+", in which nothing can be proven: its signed tree head \(origin "[^"]+"\) does not verify/,
      );
    }
    const [ofNewTree] = evidenceOf(`${registry.host}/rotated/signed-after:v1`);
    assert.equal((await pass.recheck(ofNewTree!))?.ok, true, "the active tree's entries are proven as ever");
  });

  it('a frozen tree rewritten after the entries were proven in it is the log rewriting its history', async () => {
    log.rekor.faults.set({ splitView: true });
    try {
      const [evidence] = evidenceOf(verifiedBefore);
      const result = await new InclusionRechecker({ client: logClient, baseUrl: log.rekor.url }).recheck(
        evidence!,
      );
      assert.equal(result?.ok, false);
      assert.match(result!.reason!, /rewrote its history/);
    } finally {
      log.rekor.faults.clear();
    }
  });
});

describe('the inclusion re-check across a rotation, entry by entry', () => {
  let log: TestLog;
  let client: RekorV1Client;
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  let n = 0;
  const append = (): Promise<LogEntry> =>
    client.append(hashedRekordProposal(key, Buffer.from(`recheck ${n++}`)).body);
  const evidenceOf = (e: LogEntry): LogEvidence => ({
    logId: client.logId.toString('hex'),
    logIndex: e.logIndex,
    integratedTime: e.integratedTime,
    kind: 'hashedrekord',
    bodyHash: createHash('sha256').update(Buffer.from(e.body, 'base64')).digest('hex'),
    inclusion: ['inclusion-proof'],
  });
  before(async () => {
    log = await startTestLog('recheck-rotation');
    client = new RekorV1Client({ baseUrl: log.rekor.url, logKey: log.rekor.publicKeyPem, retries: 0 });
  });
  after(() => log.stop());

  it('an entry logged in the new tree during a pass that read the log info before the rotation: retryable, not lost', async () => {
    const old: LogEntry[] = [];
    for (let i = 0; i < 6; i++) old.push(await append());
    const pass = new InclusionRechecker({ client, baseUrl: log.rekor.url });
    assert.equal(
      (await pass.recheck(evidenceOf(old[1]!)))?.ok,
      true,
      "the pass's checkpoint: the first tree at 6",
    );
    log.rekor.rotateV1();
    await append();
    await append();
    const fresh = await append(); // the new tree's third entry: its proof is in a tree of size 3
    await assert.rejects(
      pass.recheck(evidenceOf(fresh)),
      (err: unknown) =>
        err instanceof DependencyError && /moved to another tree during the pass/.test(String(err)),
    );
    const next = await new InclusionRechecker({ client, baseUrl: log.rekor.url }).recheck(evidenceOf(fresh));
    assert.deepEqual([next?.ok, next?.treeSize], [true, 3], 'the next pass proves it in the new tree');
  });

  it('a frozen shard listed at odds with its own signed head is the log contradicting itself: nothing is proven', async () => {
    const frozenEntry = await append();
    log.rekor.rotateV1();
    const active = await append();
    const contradicting = clientWithShardListings(log.rekor, ([shard]) => {
      shard!.rootHash = '00'.repeat(32);
    });
    const pass = new InclusionRechecker({ client: contradicting, baseUrl: log.rekor.url });
    for (const entry of [active, frozenEntry]) {
      const result = await pass.recheck(evidenceOf(entry));
      assert.equal(result?.ok, false);
      assert.match(
        result!.reason!,
        /lists the inactive shard .* at another size or root than its own signed tree head/,
      );
    }
  });

  it('an entry recorded in the new tree by a later pass, re-checked by a pass that read the info before the rotation: retryable', async () => {
    const first = await append();
    await append();
    const pass = new InclusionRechecker({ client, baseUrl: log.rekor.url });
    assert.equal((await pass.recheck(evidenceOf(first)))?.ok, true); // this pass's view of the log: now
    log.rekor.rotateV1();
    const inNew: LogEntry[] = [];
    // As many entries as this pass's tree has, so the recorded tree is of the same size.
    const size = (await client.getLogInfo()).inactiveShards.at(-1)!.treeSize;
    for (let i = 0; i < size; i++) inNew.push(await append());
    const later = await new InclusionRechecker({ client, baseUrl: log.rekor.url }).recheck(
      evidenceOf(inNew.at(-1)!),
    );
    assert.equal(later?.ok, true);
    assert.equal(later?.treeSize, size);
    const recorded = {
      ...evidenceOf(inNew.at(-1)!),
      provenAtTreeSize: later!.treeSize!,
      provenAtRoot: later!.rootHash!,
      provenAtOrigin: later!.origin!,
    };
    await assert.rejects(
      pass.recheck(recorded),
      (err: unknown) =>
        err instanceof DependencyError && /newer than this pass's view of the log/.test(String(err)),
    );
    const { provenAtOrigin: _, ...withoutOrigin } = recorded;
    assert.equal(
      (await pass.recheck(withoutOrigin))?.ok,
      false,
      'a record without its origin is judged as before',
    );
  });
});
