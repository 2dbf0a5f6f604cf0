/**
 * The inclusion re-check ties where an entry's proof places it to the entry's log index: the proof's
 * leaf index must be the log index less the global index of its tree's first entry (0 on an
 * unsharded log; the offset of the active tree, or of the frozen shard holding the entry, on a
 * sharded one). A proof for the same body at another leaf (a duplicate entry, or a log misplacing
 * it) climbs to the root all the same, and must not stand for the entry at this index. On a log
 * whose info lists no shards, that offset is the one configured (the monitor's `indexOffset`), or,
 * with none, not known (the tree may start at one the info does not list): every entry re-read in a
 * pass must then imply the same one.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import { loadKeys } from '../../../emulators/rekor/keys.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { reverifyOnce } from '../../../functions/reverify/core.ts';
import { InclusionRechecker } from '../../../functions/reverify/inclusion.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { formatCheckpointBody, parseCheckpoint } from '../../../functions/tlog/checkpoint/checkpoint.ts';
import { rekorLogId, rekorV1NoteSigner } from '../../../functions/tlog/checkpoint/keys.ts';
import { signNote } from '../../../functions/tlog/checkpoint/verify.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import type { RekorV1Entry } from '../../../functions/tlog/client/types.ts';
import { canonicalJson } from '../../../functions/tlog/entries/canonical.ts';
import { hashLeaf, inclusionProof, MemoryLevels, rootAt } from '../../../functions/tlog/merkle/index.ts';
import type { LogEvidence } from '../../../functions/verify/verdict.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import { reverifyHarness } from '../../helpers/reverify.ts';
import { signImage } from '../../helpers/sign-image.ts';

const HOST = 'rekor.placement.test';
const BASE = `https://${HOST}`;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const json = (value: unknown) => Response.json(value);

/** A signed v1 checkpoint note of a tree of `leaves` (leaf hashes). */
function checkpointOf(origin: string, leaves: Uint8Array[], key: KeyObject, name: string) {
  const levels = new MemoryLevels(leaves);
  const rootHash = Buffer.from(rootAt(levels, levels.size));
  const note = signNote(
    formatCheckpointBody({ origin, size: levels.size, rootHash, extensions: [] }),
    rekorV1NoteSigner(name, key),
  );
  return { levels, rootHash, note };
}

/**
 * A sharded Rekor v1 log answering its info and entry reads, its trees (oldest first, the last
 * active) holding the bodies given: a body may be in a tree twice. `misplaced` serves the entry at
 * a global log index with the (valid) proof of another leaf of its tree, holding the same body.
 */
function duplicatingLog(trees: string[][]) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const logID = hex(rekorLogId(publicKey));
  const built = trees.map((bodies, t) => {
    const treeId = 7000 + t;
    const origin = `${HOST} - ${treeId}`;
    const leaves = bodies.map((b) => hashLeaf(Buffer.from(b)));
    return { treeId, origin, bodies, leaves, ...checkpointOf(origin, leaves, privateKey, HOST) };
  });
  const offsets = built.map((_, t) => built.slice(0, t).reduce((n, tree) => n + tree.bodies.length, 0));
  const misplaced = new Map<number, number>();
  const listing = (tree: (typeof built)[number]) => ({
    rootHash: hex(tree.rootHash),
    treeSize: tree.bodies.length,
    signedTreeHead: tree.note,
    treeID: String(tree.treeId),
  });
  const entryAt = (global: number): Record<string, RekorV1Entry> | undefined => {
    const t = built.findLastIndex((_, i) => global >= offsets[i]!);
    const tree = built[t];
    const local = global - offsets[t]!;
    if (tree === undefined || local >= tree.bodies.length) return undefined;
    const leaf = misplaced.get(global) ?? local;
    assert.equal(tree.bodies[leaf], tree.bodies[local], 'a misplaced proof is for the same body');
    const body = Buffer.from(tree.bodies[local]!).toString('base64');
    const integratedTime = 1_700_000_000 + global;
    const set = sign(
      'sha256',
      Buffer.from(canonicalJson({ body, integratedTime, logID, logIndex: global })),
      privateKey,
    );
    const uuid = tree.treeId.toString(16).padStart(16, '0') + hex(tree.leaves[local]!);
    return {
      [uuid]: {
        body,
        integratedTime,
        logID,
        logIndex: global,
        verification: {
          inclusionProof: {
            checkpoint: tree.note,
            hashes: inclusionProof(tree.levels, leaf, tree.bodies.length).map(hex),
            logIndex: leaf,
            rootHash: hex(tree.rootHash),
            treeSize: tree.bodies.length,
          },
          signedEntryTimestamp: set.toString('base64'),
        },
      } as RekorV1Entry,
    };
  };
  const fetchLog: typeof fetch = async (input, init) => {
    const path = new URL(String(input)).pathname;
    if (path === '/api/v1/log') {
      return json({ ...listing(built.at(-1)!), inactiveShards: built.slice(0, -1).map(listing) });
    }
    if (path === '/api/v1/log/entries/retrieve') {
      const { logIndexes } = JSON.parse(String(init?.body)) as { logIndexes: number[] };
      return json(logIndexes.map(entryAt).filter((e) => e !== undefined));
    }
    return new Response('not found', { status: 404 });
  };
  const client = new RekorV1Client({ baseUrl: BASE, logKey: publicKey, retries: 0, fetch: fetchLog });
  const evidence = (global: number): LogEvidence => {
    const [entry] = Object.values(entryAt(global)!);
    return {
      logId: logID,
      logIndex: global,
      integratedTime: entry!.integratedTime,
      kind: 'hashedrekord',
      bodyHash: createHash('sha256').update(Buffer.from(entry!.body, 'base64')).digest('hex'),
      inclusion: ['inclusion-proof'],
    };
  };
  /**
   * A fresh pass's re-check of the entry at `global`, its proof of leaf `leaf` when given, by a
   * rechecker configured with `indexOffset` when given.
   */
  const recheck = async (global: number, leaf?: number, indexOffset?: number) => {
    misplaced.clear();
    if (leaf !== undefined) misplaced.set(global, leaf);
    const pass = new InclusionRechecker({
      client,
      baseUrl: BASE,
      fetch: fetchLog,
      ...(indexOffset !== undefined ? { indexOffset } : {}),
    });
    return await pass.recheck(evidence(global));
  };
  return { recheck, origins: built.map((t) => t.origin) };
}

describe('the inclusion re-check refuses a proof placing the entry at another index of its tree', () => {
  it('an unsharded log: the proof of the same body at another leaf does not prove the entry', async () => {
    const log = duplicatingLog([['u0', 'dup', 'u2', 'dup']]);
    const right = await log.recheck(1);
    assert.equal(right?.ok, true, right?.reason);
    assert.equal(right?.treeSize, 4);
    const wrong = await log.recheck(1, 3);
    assert.equal(wrong?.ok, false);
    assert.equal(
      wrong?.reason,
      `log entry 1 is proven at index 3 of tree "${log.origins[0]}", not at its index 1 in that tree`,
    );
  });

  it("a sharded log's active tree: the proof's index is the log index less the tree's offset", async () => {
    // A frozen shard of 4 entries (log indexes 0-3), then the active tree from log index 4.
    const log = duplicatingLog([
      ['f0', 'f1', 'f2', 'f3'],
      ['a0', 'twice', 'twice', 'a3'],
    ]);
    const right = await log.recheck(5); // the active tree's leaf 1
    assert.equal(right?.ok, true, right?.reason);
    assert.equal(right?.origin, log.origins[1]);
    const offByOne = await log.recheck(5, 2);
    assert.equal(offByOne?.ok, false);
    assert.equal(
      offByOne?.reason,
      `log entry 5 is proven at index 2 of tree "${log.origins[1]}", not at its index 1 in that tree, whose first entry is log index 4`,
    );
    const later = await log.recheck(6); // the duplicate, at its own place
    assert.equal(later?.ok, true, later?.reason);
    const earlier = await log.recheck(6, 1);
    assert.equal(earlier?.ok, false);
    assert.match(earlier!.reason!, /^log entry 6 is proven at index 1 of tree "[^"]+", not at its index 2/);
  });

  it("a frozen shard: the proof's index is the log index less the shard's offset", async () => {
    // Two frozen shards (log indexes 0-2 and 3-6), then the active tree from log index 7.
    const log = duplicatingLog([
      ['g0', 'g1', 'g2'],
      ['h0', 'h1', 'again', 'again'],
      ['a0', 'a1'],
    ]);
    const right = await log.recheck(5); // the second shard's leaf 2
    assert.equal(right?.ok, true, right?.reason);
    assert.deepEqual([right?.origin, right?.treeSize], [log.origins[1], 4], 'proven in the frozen shard');
    const offByOne = await log.recheck(5, 3);
    assert.equal(offByOne?.ok, false);
    assert.equal(
      offByOne?.reason,
      `log entry 5 is proven at index 3 of tree "${log.origins[1]}", not at its index 2 in that tree, whose first entry is log index 3`,
    );
    assert.equal((await log.recheck(6))?.ok, true);
    assert.equal((await log.recheck(6, 2))?.ok, false);
  });
});

describe('reverifyOnce on a log misplacing the entries of a signature', () => {
  const harness = reverifyHarness('reverify-proof-placement');

  it('calls the signature invalid, the re-check naming where the proof places the entry, and alerts', async () => {
    const store = new MemoryTagStore();
    const alerts = new RecordingAlertSink();
    const image = await harness.push('placement/app', 'v1');
    await signImage(
      { registry: harness.registry, signer: harness.signer, rekorUrl: harness.rekor.url },
      image,
    );
    const ref = harness.ref('placement/app', 'v1');
    const logSigningKey = loadKeys(harness.log.dataDir).v1;
    // The log as it is, then a second copy of every signature's entry: the same bodies at new leaves,
    // under a root the log's key signs. Each entry is served with its copy's (valid) proof.
    const info = (await (await fetch(`${harness.rekor.url}/api/v1/log`)).json()) as {
      treeSize: number;
      signedTreeHead: string;
    };
    const indexes = Array.from({ length: info.treeSize }, (_, i) => i);
    const read = await fetch(`${harness.rekor.url}/api/v1/log/entries/retrieve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ logIndexes: indexes }),
    });
    const entries = ((await read.json()) as Array<Record<string, RekorV1Entry>>).flatMap((m) =>
      Object.values(m),
    );
    const leaves = entries.map((e) => hashLeaf(Buffer.from(e.body, 'base64')));
    const copies = entries.slice(1); // all but the unrelated first entry: the signatures'
    const { checkpoint, note } = parseCheckpoint(info.signedTreeHead);
    const extended = checkpointOf(
      checkpoint.origin,
      [...leaves, ...copies.map((e) => hashLeaf(Buffer.from(e.body, 'base64')))],
      logSigningKey,
      note.signatures[0]!.name,
    );
    const size = extended.levels.size;
    const misplacing: typeof fetch = async (input, init) => {
      const path = new URL(String(input)).pathname;
      if (path === '/api/v1/log') {
        const real = (await (await fetch(input, init)).json()) as Record<string, unknown>;
        return json({
          ...real,
          treeSize: size,
          rootHash: hex(extended.rootHash),
          signedTreeHead: extended.note,
        });
      }
      const res = await fetch(input, init);
      if (path !== '/api/v1/log/entries/retrieve') return res;
      const list = (await res.json()) as Array<Record<string, RekorV1Entry>>;
      for (const entry of list.flatMap((m) => Object.values(m))) {
        const copy = info.treeSize + copies.findIndex((c) => c.logIndex === entry.logIndex);
        entry.verification!.inclusionProof = {
          checkpoint: extended.note,
          hashes: inclusionProof(extended.levels, copy, size).map(hex),
          logIndex: copy,
          rootHash: hex(extended.rootHash),
          treeSize: size,
        };
      }
      return json(list);
    };
    const client = new RekorV1Client({
      baseUrl: harness.rekor.url,
      logKey: harness.rekor.publicKeyPem,
      retries: 0,
      fetch: misplacing,
    });
    const inclusion = new InclusionRechecker({ client, baseUrl: harness.rekor.url, fetch: misplacing });
    const summary = await reverifyOnce(
      harness.deps({ store, alerts, watch: [`${harness.host}/placement/**`], inclusion }),
    );
    assert.deepEqual(
      summary.outcomes.map((o) => [o.ref, o.status]),
      [[ref, 'invalid']],
    );
    assert.deepEqual(alerts.openKinds(ref), ['signature-invalid']);
    const reasons = store.records.get(ref)!.findings.map((f) => f.reason ?? '');
    assert.ok(reasons.length > 0);
    for (const reason of reasons) {
      assert.match(
        reason,
        /^log inclusion re-check failed: log entry (\d+) is proven at index \d+ of tree "[^"]+", not at its index \1 in that tree$/,
      );
    }
  });
});

/**
 * A Rekor v1 log whose tree numbers its entries from global log index `offset`, its info listing no
 * inactive shards (an older Rekor, or one configured so: the monitor serves it through its
 * `indexOffset` setting, which reverify reads too). Its proofs carry the leaf index within the tree.
 * `misplaced` serves the entry at a global log index with the (valid) proof of another leaf
 * holding the same body.
 */
function unlistedOffsetLog(offset: number, bodies: string[]) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const logID = hex(rekorLogId(publicKey));
  const origin = `${HOST} - 4242`;
  const leaves = bodies.map((b) => hashLeaf(Buffer.from(b)));
  const { levels, rootHash, note } = checkpointOf(origin, leaves, privateKey, HOST);
  const misplaced = new Map<number, number>();
  const entryAt = (global: number): Record<string, RekorV1Entry> => {
    const local = global - offset;
    const leaf = misplaced.get(global) ?? local;
    assert.equal(bodies[leaf], bodies[local], 'a misplaced proof is for the same body');
    const body = Buffer.from(bodies[local]!).toString('base64');
    const integratedTime = 1_700_000_000 + global;
    const set = sign(
      'sha256',
      Buffer.from(canonicalJson({ body, integratedTime, logID, logIndex: global })),
      privateKey,
    );
    return {
      [`0000000000001092${hex(leaves[local]!)}`]: {
        body,
        integratedTime,
        logID,
        logIndex: global,
        verification: {
          inclusionProof: {
            checkpoint: note,
            hashes: inclusionProof(levels, leaf, levels.size).map(hex),
            logIndex: leaf, // Rekor: the leaf index within the tree
            rootHash: hex(rootHash),
            treeSize: levels.size,
          },
          signedEntryTimestamp: set.toString('base64'),
        },
      } as RekorV1Entry,
    };
  };
  const fetchLog: typeof fetch = async (input, init) => {
    const path = new URL(String(input)).pathname;
    if (path === '/api/v1/log') {
      // No inactiveShards listed: nothing in the info says the tree starts at global index `offset`.
      return json({ rootHash: hex(rootHash), treeSize: levels.size, signedTreeHead: note, treeID: '4242' });
    }
    if (path === '/api/v1/log/entries/retrieve') {
      const { logIndexes } = JSON.parse(String(init?.body)) as { logIndexes: number[] };
      return json(logIndexes.map(entryAt));
    }
    return new Response('not found', { status: 404 });
  };
  const client = new RekorV1Client({ baseUrl: BASE, logKey: publicKey, retries: 0, fetch: fetchLog });
  const evidence = (global: number): LogEvidence => {
    const [entry] = Object.values(entryAt(global));
    return {
      logId: logID,
      logIndex: global,
      integratedTime: entry!.integratedTime,
      kind: 'hashedrekord',
      bodyHash: createHash('sha256').update(Buffer.from(entry!.body, 'base64')).digest('hex'),
      inclusion: ['inclusion-proof'],
    };
  };
  /**
   * A pass: its re-checks of entries (by global index), the proof of leaf `leaf` when given; its
   * rechecker configured with `indexOffset` when given.
   */
  const pass = (indexOffset?: number) => {
    const rechecker = new InclusionRechecker({
      client,
      baseUrl: BASE,
      fetch: fetchLog,
      ...(indexOffset !== undefined ? { indexOffset } : {}),
    });
    return async (global: number, leaf?: number) => {
      misplaced.clear();
      if (leaf !== undefined) misplaced.set(global, leaf);
      return await rechecker.recheck(evidence(global));
    };
  };
  return { pass, origin };
}

describe('the inclusion re-check on a log whose tree starts at an offset its info does not list', () => {
  it('an honest entry at global index OFFSET+1, proven at leaf 1, is re-checked ok (review F3)', async () => {
    const log = unlistedOffsetLog(1000, ['a', 'b', 'c', 'd']);
    const result = await log.pass()(1001);
    assert.equal(result?.ok, true, result?.reason);
    assert.deepEqual([result?.origin, result?.treeSize], [log.origin, 4]);
  });

  it('every honest entry of a pass is ok: each implies the same offset', async () => {
    const log = unlistedOffsetLog(1000, ['a', 'b', 'c', 'd']);
    const recheck = log.pass();
    for (const global of [1002, 1000, 1003, 1001]) {
      const result = await recheck(global);
      assert.equal(result?.ok, true, `${global}: ${result?.reason}`);
    }
  });

  it('an entry proven at another implied offset than the pass’s others is refused, naming both', async () => {
    const log = unlistedOffsetLog(1000, ['a', 'dup', 'c', 'dup']);
    const recheck = log.pass();
    const right = await recheck(1001); // leaf 1: the tree starts at log index 1000
    assert.equal(right?.ok, true, right?.reason);
    const wrong = await recheck(1003, 1); // its twin's proof: as if the tree started at 1002
    assert.equal(wrong?.ok, false);
    assert.equal(
      wrong?.reason,
      `log entry 1003 is proven at index 1 of tree "${log.origin}", not at its index 3 in that tree, whose first entry is log index 1000 as log entry 1001 is proven (this proof makes it log index 1002)`,
    );
    assert.equal((await recheck(1002))?.ok, true, 'the others still agree');
  });

  it('a proof at a leaf beyond the log index places the entry at no offset', async () => {
    const log = unlistedOffsetLog(0, ['u0', 'dup', 'u2', 'dup']);
    const wrong = await log.pass()(1, 3);
    assert.equal(wrong?.ok, false);
    assert.equal(
      wrong?.reason,
      `log entry 1 is proven at index 3 of tree "${log.origin}", not at its index 1 in that tree`,
    );
  });
});

describe('the inclusion re-check on a log whose tree starts at an offset it does not list, that offset configured', () => {
  // A proof that disagrees with a configured offset is not judged: the setting may be what is wrong
  // (found by review: a typo made every honest entry `invalid`, a CRITICAL incident per image). The
  // re-check fails as a dependency does, naming the setting, and the tag's last verdict stands.
  const disagrees = (global: number, leaf: number, offset: number) => (err: unknown) =>
    err instanceof DependencyError &&
    err.message.startsWith(`log entry ${global} is proven at index ${leaf} of tree "`) &&
    err.message.includes(
      `not at its index ${global - offset} under the configured indexOffset ${offset} (monitor.logs[].indexOffset)`,
    );

  it('a single misplaced entry, the only one re-read in its pass, is not accepted', async () => {
    // Inferred, its proof alone would make the tree start at log index 1002: nothing to contradict it.
    const log = unlistedOffsetLog(1000, ['a', 'dup', 'c', 'dup']);
    await assert.rejects(log.pass(1000)(1003, 1), disagrees(1003, 1, 1000));
  });

  it('a misplaced entry re-read first does not get the honest ones after it refused', async () => {
    const log = unlistedOffsetLog(1000, ['a', 'dup', 'c', 'dup']);
    const recheck = log.pass(1000);
    await assert.rejects(recheck(1003, 1), disagrees(1003, 1, 1000));
    for (const global of [1001, 1000, 1002]) {
      const result = await recheck(global);
      assert.equal(result?.ok, true, `${global}: ${result?.reason}`);
      assert.deepEqual([result?.origin, result?.treeSize], [log.origin, 4]);
    }
  });

  it('honest entries are accepted; an offset configured wrong makes them wait, naming it', async () => {
    const log = unlistedOffsetLog(1000, ['a', 'b', 'c', 'd']);
    const recheck = log.pass(1000);
    for (const global of [1002, 1000, 1003, 1001]) {
      const result = await recheck(global);
      assert.equal(result?.ok, true, `${global}: ${result?.reason}`);
    }
    await assert.rejects(log.pass(999)(1001), disagrees(1001, 1, 999));
  });

  it('the shards a log info lists win over the configured offset, as in the monitor', async () => {
    // A frozen shard of 4 entries (log indexes 0-3), then the active tree from log index 4.
    const log = duplicatingLog([
      ['f0', 'f1', 'f2', 'f3'],
      ['a0', 'twice', 'twice', 'a3'],
    ]);
    for (const configured of [0, 3, 5]) {
      const right = await log.recheck(5, undefined, configured);
      assert.equal(right?.ok, true, `${configured}: ${right?.reason}`);
      assert.equal(right?.origin, log.origins[1]);
      const frozen = await log.recheck(2, undefined, configured);
      assert.equal(frozen?.ok, true, `${configured}: ${frozen?.reason}`);
      assert.equal(frozen?.origin, log.origins[0]);
      const offByOne = await log.recheck(5, 2, configured);
      assert.equal(
        offByOne?.reason,
        `log entry 5 is proven at index 2 of tree "${log.origins[1]}", not at its index 1 in that tree, whose first entry is log index 4`,
      );
    }
  });
});
