/**
 * reverifyOnce where what it reads can change under it or fail: a signature tag moved between its
 * fingerprint and its read, repositories that cannot be listed, trust that changes, a log that replays
 * old proofs or glitches once, and a tag that answers 404. Real registry, Rekor emulator and store.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { loadKeys } from '../../../emulators/rekor/keys.ts';
import { signatureTag } from '../../../functions/attach/cosign-layout.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { type ReverifyDeps, type ReverifySummary, reverifyOnce } from '../../../functions/reverify/core.ts';
import { InclusionRechecker } from '../../../functions/reverify/inclusion.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { formatCheckpointBody, parseCheckpoint } from '../../../functions/tlog/checkpoint/checkpoint.ts';
import { rekorV1NoteSigner } from '../../../functions/tlog/checkpoint/keys.ts';
import { signNote } from '../../../functions/tlog/checkpoint/verify.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import type { RekorV1Entry } from '../../../functions/tlog/client/types.ts';
import { hashLeaf, rootFromInclusionProof } from '../../../functions/tlog/merkle/index.ts';
import { logKey } from '../../../functions/verify/trust.ts';
import type { LogEvidence, SignatureFinding } from '../../../functions/verify/verdict.ts';
import { appendFillerEntry } from '../../helpers/hashedrekord.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import type { ProxyIntercept } from '../../helpers/registry.ts';
import { reverifyHarness } from '../../helpers/reverify.ts';
import { signImage } from '../../helpers/sign-image.ts';
import { flipSignatures, rewriteSignatureManifest } from '../verify/tamper.ts';

/**
 * Gives `entry` a proof for a forked tree of the same size: one sibling subtree differs, so the
 * entry is included under another root, whose checkpoint the log's own key signs (a split view).
 */
function forkProof(entry: RekorV1Entry, logSigningKey: KeyObject): void {
  const proof = entry.verification!.inclusionProof!;
  const hashes = [...proof.hashes];
  hashes[hashes.length - 1] = randomBytes(32).toString('hex');
  const root = rootFromInclusionProof(
    proof.logIndex,
    proof.treeSize,
    hashLeaf(Buffer.from(entry.body, 'base64')),
    hashes.map((h) => Buffer.from(h, 'hex')),
  );
  const { checkpoint, note } = parseCheckpoint(proof.checkpoint!);
  proof.hashes = hashes;
  proof.rootHash = root.toString('hex');
  proof.checkpoint = signNote(
    formatCheckpointBody({ ...checkpoint, rootHash: root }),
    rekorV1NoteSigner(note.signatures[0]!.name, logSigningKey),
  );
}

describe('reverifyOnce at its trust boundaries', () => {
  /** What the current test does to registry requests (none: passed through). */
  let intercept: ProxyIntercept | undefined;
  const harness = reverifyHarness('reverify-boundaries-rekor', {
    intercept: (req, res) => intercept?.(req, res) ?? false,
  });
  const { signer, ref, push } = harness;

  /** Adds an entry to the log (the log grows). */
  const logEntry = (text: string) => appendFillerEntry(harness.rekor.url, text);

  /** A pass's dependencies over `team` (its own repositories), with its own store and alerts. */
  const world = (team: string) => {
    const store = new MemoryTagStore();
    const alerts = new RecordingAlertSink();
    const deps = (over: Partial<ReverifyDeps> = {}, logFetch?: typeof fetch): ReverifyDeps =>
      harness.deps({ store, alerts, watch: [`${harness.host}/${team}/**`], ...over }, logFetch);
    return { store, alerts, deps };
  };
  const pushSigned = async (repository: string, tag: string) => {
    const image = await push(repository, tag);
    await signImage({ registry: harness.registry, signer, rekorUrl: harness.rekor.url }, image);
    return image;
  };
  /**
   * The log's answers to the entry reads of another pass over `team` (its own store: its first,
   * which proves each entry in the current tree), by request body, recorded at the log's current
   * size: to be replayed once the log has grown.
   */
  const answersOfAnotherPass = async (team: string): Promise<Map<string, string>> => {
    const answers = new Map<string, string>();
    const recording: typeof fetch = async (input, init) => {
      const body = await (await fetch(input, init)).text();
      answers.set(String(init?.body), body);
      return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
    };
    await reverifyOnce(world(team).deps({}, recording));
    assert.ok(answers.size > 0);
    return answers;
  };
  /** Every evidence records `checkpoint`'s tree as the one its entry is proven in. */
  const assertProvenIn = (evidence: LogEvidence[], checkpoint: { size: number; rootHash: Buffer }) => {
    assert.ok(evidence.length > 0);
    for (const e of evidence) {
      assert.equal(e.provenAtTreeSize, checkpoint.size);
      assert.equal(e.provenAtRoot, checkpoint.rootHash.toString('hex'));
    }
  };

  const statuses = (summary: ReverifySummary) => summary.outcomes.map((o) => [o.ref, o.status]);

  it('stores the findings of the very .sig manifest it fingerprinted, even when the tag moves between the two reads', async () => {
    const { store, alerts, deps } = world('toctou');
    const image = await pushSigned('toctou/app', 'v1');
    const tag = signatureTag(image.digest);
    assert.deepEqual(statuses(await reverifyOnce(deps())), [[ref('toctou/app', 'v1'), 'valid']]);
    const { before: valid, mediaType } = await rewriteSignatureManifest(
      harness.registry,
      image,
      flipSignatures,
    );
    const tampered = await harness.registry.getManifest(image, tag);
    // While the fingerprint's HEAD is answered from the tampered manifest, the tag goes back to the valid one.
    let moveOnHead = true;
    intercept = async (req, res) => {
      if (!moveOnHead || req.method !== 'HEAD' || !req.url.pathname.endsWith(`/manifests/${tag}`))
        return false;
      moveOnHead = false;
      const head = await fetch(new URL(req.url.pathname, harness.testRegistry.url), {
        method: 'HEAD',
        headers: { accept: String(req.headers['accept']) },
      });
      await harness.registry.putManifest(image, tag, valid, mediaType);
      const headers: Record<string, string> = {};
      head.headers.forEach((v, k) => {
        if (!['connection', 'keep-alive', 'transfer-encoding'].includes(k)) headers[k] = v;
      });
      res.writeHead(head.status, headers).end();
      return true;
    };
    try {
      await reverifyOnce(deps());
    } finally {
      intercept = undefined;
    }
    assert.equal(moveOnHead, false, 'the tag was moved during the pass');
    const record = store.records.get(ref('toctou/app', 'v1'))!;
    if (record.fingerprint.signatureManifest === tampered.descriptor.digest) {
      assert.notEqual(record.status, 'valid', 'the tampered fingerprint is stored with the valid findings');
    }
    // The tampered manifest is back on the tag: every later pass must see it invalid.
    await harness.registry.putManifest(image, tag, tampered.bytes, tampered.descriptor.mediaType);
    for (let pass = 0; pass < 2; pass++) {
      assert.deepEqual(statuses(await reverifyOnce(deps())), [[ref('toctou/app', 'v1'), 'invalid']]);
    }
    assert.deepEqual(alerts.openKinds(ref('toctou/app', 'v1')), ['signature-invalid']);
  });

  it('reports a repository it cannot list and verifies the rest of the inventory', async () => {
    const { deps } = world('listing');
    await pushSigned('listing/app', 'v1');
    // Blobs uploaded, no manifest yet: the catalog lists the repository, its tag list answers 404.
    await harness.registry.putBlob(
      { host: harness.host, repository: 'listing/in-flight' },
      Buffer.from('layer'),
      'application/octet-stream',
    );
    const watchlist = [
      {
        image: `${harness.host}/vendor/removed`,
        policy: { keys: [], identities: [{ subjectAlternativeName: 'x', issuer: 'y' }] },
      },
    ];
    const summary = await reverifyOnce(deps({ watchlist }));
    assert.deepEqual(statuses(summary), [[ref('listing/app', 'v1'), 'valid']]);
    assert.deepEqual(
      summary.errors.map((e) => e.ref),
      [`${harness.host}/listing/in-flight`, `${harness.host}/vendor/removed`],
    );
    assert.ok(summary.errors.every((e) => e.error.includes('could not list the tags of')));
  });

  it('verifies again, rather than trusts, a recorded verdict once the trusted logs change', async () => {
    const { deps } = world('trust');
    await pushSigned('trust/app', 'v1');
    assert.deepEqual(statuses(await reverifyOnce(deps())), [[ref('trust/app', 'v1'), 'valid']]);
    const otherLog = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const summary = await reverifyOnce(
      deps({ trust: { logs: [logKey('http://other-log.example', otherLog)] }, inclusion: undefined }),
    );
    assert.deepEqual(statuses(summary), [[ref('trust/app', 'v1'), 'invalid']]);
    assert.equal(summary.cached, 0);
  });

  it("takes an inclusion proof for an older tree only through a consistency proof to the log's current checkpoint, and never records a smaller tree", async () => {
    const { store, deps } = world('replay');
    await pushSigned('replay/app', 'v1');
    // Answers recorded by another pass (its own store) while the log was smaller.
    const answers = await answersOfAnotherPass('replay');
    for (let i = 0; i < 5; i++) await logEntry(`replay grows ${i}`);
    const current = await harness.logClient.getCheckpoint();
    const sizes = () =>
      store.records
        .get(ref('replay/app', 'v1'))!
        .findings.flatMap((f) => (f.log ?? []).map((l) => l.provenAtTreeSize ?? 0));
    const replay: typeof fetch = async (input, init) => {
      const old = answers.get(String(init?.body));
      if (old === undefined) return await fetch(input, init);
      return new Response(old, { status: 200, headers: { 'content-type': 'application/json' } });
    };
    // This store's first pass reads the replayed proofs, for an older tree of the same history:
    // the entry is in the current tree too (inclusion in the older tree plus consistency), so it
    // stays valid, recorded at the current size, not the replayed one.
    const summary = await reverifyOnce(deps({}, replay));
    assert.deepEqual(statuses(summary), [[ref('replay/app', 'v1'), 'valid']]);
    assert.ok(sizes().length > 0);
    assert.ok(
      sizes().every((size) => size === current.size),
      `recorded at ${sizes()}, current ${current.size}`,
    );
  });

  it("refuses an inclusion proof for a forked tree of the current checkpoint's size (a split view), though the log signed it", async () => {
    const { alerts, deps } = world('fork');
    await pushSigned('fork/app', 'v1');
    await logEntry('fork sibling'); // so the entry's proof has a sibling hash to fork
    const logSigningKey = loadKeys(harness.log.dataDir).v1;
    // The same tree size, another tree: one sibling subtree differs, so the entry is included in it
    // under another root, which the log signs. Only a comparison with the pass's checkpoint tells.
    const forked: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!String(input).endsWith('/api/v1/log/entries/retrieve')) return res;
      const list = (await res.json()) as Array<Record<string, RekorV1Entry>>;
      for (const entry of list.flatMap((m) => Object.values(m))) forkProof(entry, logSigningKey);
      return new Response(JSON.stringify(list), {
        status: 200,
        headers: { 'content-type': 'application/json' },
      });
    };
    const summary = await reverifyOnce(deps({}, forked));
    assert.deepEqual(statuses(summary), [[ref('fork/app', 'v1'), 'invalid']]);
    assert.deepEqual(alerts.openKinds(ref('fork/app', 'v1')), ['signature-invalid']);
  });

  it('re-checks an entry proven in a recorded tree by consistency alone, reading no entry again, as the log grows', async () => {
    const { store, deps } = world('steady');
    await pushSigned('steady/app', 'v1');
    let retrieves = 0;
    const counting: typeof fetch = async (input, init) => {
      if (String(input).endsWith('/api/v1/log/entries/retrieve')) retrieves++;
      return await fetch(input, init);
    };
    const evidence = () => store.records.get(ref('steady/app', 'v1'))!.findings.flatMap((f) => f.log ?? []);
    await reverifyOnce(deps({}, counting)); // the first pass reads the entries and records the tree
    assert.ok(retrieves > 0);
    const first = await harness.logClient.getCheckpoint();
    assert.ok(evidence().length > 0);
    assertProvenIn(evidence(), first);
    for (let i = 0; i < 3; i++) await logEntry(`steady grows ${i}`);
    retrieves = 0;
    const summary = await reverifyOnce(deps({}, counting));
    assert.deepEqual(statuses(summary), [[ref('steady/app', 'v1'), 'valid']]);
    assert.equal(retrieves, 0, 'no entry was read again');
    const grown = await harness.logClient.getCheckpoint();
    assert.ok(grown.size > first.size);
    assertProvenIn(evidence(), grown);
  });

  it('makes a signature invalid when the log no longer extends the tree its entry was proven in, and valid again when it does', async () => {
    const { store, alerts, deps } = world('rewrite');
    await pushSigned('rewrite/app', 'v1');
    await reverifyOnce(deps()); // records the tree the entries are proven in
    const reasons = () =>
      store.records
        .get(ref('rewrite/app', 'v1'))!
        .findings.map((f) => f.reason ?? '')
        .join('\n');
    const reasonOf = (summary: ReverifySummary) =>
      summary.outcomes.length === 1 ? JSON.stringify(summary.outcomes[0]) : JSON.stringify(summary);
    try {
      // The same size under another root (a split view, signed with the log's key).
      harness.rekor.faults.set({ splitView: true });
      const sameSize = await reverifyOnce(deps());
      assert.deepEqual(statuses(sameSize), [[ref('rewrite/app', 'v1'), 'invalid']], reasonOf(sameSize));
      assert.deepEqual(alerts.openKinds(ref('rewrite/app', 'v1')), ['signature-invalid']);
      assert.match(reasons(), /its tree of size \d+, in which entry \d+ was proven, now has another root/);
      // A larger tree that does not extend it.
      await logEntry('rewrite grows');
      const larger = await reverifyOnce(deps());
      assert.deepEqual(statuses(larger), [[ref('rewrite/app', 'v1'), 'invalid']], reasonOf(larger));
      assert.match(reasons(), /does not extend the tree of size \d+ in which entry \d+ was proven/);
    } finally {
      harness.rekor.faults.clear();
    }
    const recovered = await reverifyOnce(deps());
    assert.deepEqual(statuses(recovered), [[ref('rewrite/app', 'v1'), 'valid']]);
    // A log seen rewriting its history is evidence however it answers later: an operator closes it.
    assert.deepEqual(alerts.openKinds(ref('rewrite/app', 'v1')), ['signature-invalid']);
  });

  it('refuses a proof for a forked tree of an older size, though a proof for the true tree of that size came first in the pass', async () => {
    const { store, deps } = world('older-fork');
    await pushSigned('older-fork/app', 'v1'); // two entries: the .sig signature's and the bundle's
    const answers = await answersOfAnotherPass('older-fork');
    await logEntry('older-fork grows'); // the answers are now for an older tree
    const logSigningKey = loadKeys(harness.log.dataDir).v1;
    // The entry asked for last is served with a proof for a forked tree of the older size; the one
    // asked for first, with the true proof for that size, which is checked first.
    const forked: typeof fetch = async (input, init) => {
      const old = answers.get(String(init?.body));
      if (old === undefined) return await fetch(input, init);
      const asked = (JSON.parse(String(init?.body)) as { logIndexes: number[] }).logIndexes;
      const list = JSON.parse(old) as Array<Record<string, RekorV1Entry>>;
      const entry = list.flatMap((m) => Object.values(m)).find((e) => e.logIndex === asked.at(-1))!;
      forkProof(entry, logSigningKey);
      return new Response(JSON.stringify(list), {
        status: 200,
        headers: { 'content-type': 'application/json' },
      });
    };
    const summary = await reverifyOnce(deps({}, forked));
    assert.deepEqual(statuses(summary), [[ref('older-fork/app', 'v1'), 'invalid']]);
    const reasons = store.records.get(ref('older-fork/app', 'v1'))!.findings.map((f) => f.reason ?? '');
    assert.ok(
      reasons.some((r) => r.startsWith('log inclusion re-check failed')),
      reasons.join('\n'),
    );
  });

  it('keeps the larger tree another pass recorded while this pass works from an older checkpoint', async () => {
    const { store, alerts, deps } = world('overlap');
    await pushSigned('overlap/app', 'v1');
    await reverifyOnce(deps()); // records the tree
    const recorded = () => store.records.get(ref('overlap/app', 'v1'))!.findings.flatMap((f) => f.log ?? []);
    // Pass X fixes its checkpoint now (its first look at the log).
    const x = new InclusionRechecker({ client: harness.logClient, baseUrl: harness.rekor.url });
    const { provenAtTreeSize: _s, provenAtRoot: _r, ...unrecorded } = recorded()[0]!;
    assert.equal((await x.recheck(unrecorded))?.ok, true);
    // The log grows and another pass records the larger tree before X reaches the tag.
    await logEntry('overlap grows');
    await reverifyOnce(deps());
    const larger = await harness.logClient.getCheckpoint();
    const summary = await reverifyOnce(deps({ inclusion: x }));
    assert.deepEqual(statuses(summary), [[ref('overlap/app', 'v1'), 'valid']]);
    assert.deepEqual(alerts.openKinds(ref('overlap/app', 'v1')), []);
    assertProvenIn(recorded(), larger);
  });

  it('treats a consistency proof it cannot read as the log failing, not as a rewritten history', async () => {
    const { store, alerts, deps } = world('unreadable');
    await pushSigned('unreadable/app', 'v1');
    await reverifyOnce(deps()); // records the tree
    await logEntry('unreadable grows');
    const htmlProofs: typeof fetch = async (input, init) => {
      if (String(input).includes('/api/v1/log/proof'))
        return new Response('<html>gateway</html>', {
          status: 200,
          headers: { 'content-type': 'text/html' },
        });
      return await fetch(input, init);
    };
    const client = new RekorV1Client({
      baseUrl: harness.rekor.url,
      logKey: harness.rekor.publicKeyPem,
      fetch: htmlProofs,
    });
    const summary = await reverifyOnce(
      deps({ inclusion: new InclusionRechecker({ client, baseUrl: harness.rekor.url }) }),
    );
    assert.deepEqual(statuses(summary), [], 'no verdict from an unreadable proof');
    assert.equal(summary.errors.length, 1, JSON.stringify(summary.errors));
    assert.match(summary.errors[0]!.error, /consistent failed/);
    assert.equal(store.records.get(ref('unreadable/app', 'v1'))!.status, 'valid', 'the last verdict stands');
    assert.deepEqual(alerts.openKinds(ref('unreadable/app', 'v1')), []);
  });

  it('reads an entry afresh when its recorded tree is malformed, compares roots by value, and checks the integration time it reads', async () => {
    const { store, deps } = world('evidence');
    await pushSigned('evidence/app', 'v1');
    await reverifyOnce(deps()); // records the tree
    const evidence = store.records.get(ref('evidence/app', 'v1'))!.findings.flatMap((f) => f.log ?? [])[0]!;
    const fresh = () => new InclusionRechecker({ client: harness.logClient, baseUrl: harness.rekor.url });
    const current = await harness.logClient.getCheckpoint();
    // The root recorded in upper case is the same root.
    const upper = await fresh().recheck({ ...evidence, provenAtRoot: evidence.provenAtRoot!.toUpperCase() });
    assert.deepEqual(upper, {
      ok: true,
      treeSize: current.size,
      rootHash: current.rootHash.toString('hex'),
      origin: current.origin,
    });
    // A recorded tree of size 0, or with a root that is not one, proves nothing: the entry is read,
    // and must still be the entry that was verified.
    const other = '00'.repeat(32);
    for (const [size, root] of [
      [0, evidence.provenAtRoot!],
      [current.size, 'not a root'],
    ] as const) {
      const result = await fresh().recheck({
        ...evidence,
        bodyHash: other,
        provenAtTreeSize: size,
        provenAtRoot: root,
      });
      assert.deepEqual(result, {
        ok: false,
        reason: `log entry ${evidence.logIndex} is no longer the entry that was verified`,
      });
    }
    // The entry read must claim the integration time that was verified (its signed entry timestamp
    // covers the time the log claims now; the verified one is the evidence).
    const { provenAtTreeSize: _s, provenAtRoot: _r, provenAtOrigin: _o, ...unrecorded } = evidence;
    const moved = await fresh().recheck({ ...unrecorded, integratedTime: evidence.integratedTime - 1 });
    assert.equal(moved?.ok, false);
    assert.match(moved!.reason!, /now claims integration at \d+, not the \d+ verified/);
  });

  it('stores no verdict for signatures verified afresh while their log entries cannot be read, and still judges unsigned tags', async () => {
    const { store, alerts, deps } = world('log-down');
    await pushSigned('log-down/app', 'v1');
    await push('log-down/app', 'unsigned');
    const unavailable: typeof fetch = async () => new Response('busy', { status: 503 });
    const down = await reverifyOnce(deps({}, unavailable));
    assert.deepEqual(statuses(down), [[ref('log-down/app', 'unsigned'), 'unsigned']]);
    assert.deepEqual(
      down.errors.map((e) => e.ref),
      [ref('log-down/app', 'v1')],
    );
    assert.match(down.errors[0]!.error, /re-reading log entries failed: .*log answered 503/);
    assert.equal(store.records.get(ref('log-down/app', 'v1')), undefined, 'no verdict without the log');
    assert.deepEqual(alerts.openKinds(ref('log-down/app', 'unsigned')), ['unsigned-image']);
    const up = await reverifyOnce(deps());
    assert.deepEqual(statuses(up), [
      [ref('log-down/app', 'unsigned'), 'unsigned'],
      [ref('log-down/app', 'v1'), 'valid'],
    ]);
  });

  it('reads the entries again after one failed answer, so a passing log fault costs no verdict', async () => {
    const { deps } = world('log-blip');
    await pushSigned('log-blip/app', 'v1');
    let failed = 0;
    const blip: typeof fetch = async (input, init) => {
      if (failed++ === 0) return new Response('busy', { status: 503 });
      return await fetch(input, init);
    };
    const summary = await reverifyOnce(deps({}, blip));
    assert.deepEqual(summary.errors, []);
    assert.deepEqual(statuses(summary), [[ref('log-blip/app', 'v1'), 'valid']]);
    assert.ok(failed > 1, 'the reads were asked again');
  });

  it('judges a tampered or lost signature while the log entries of its other signatures cannot be read', async () => {
    const { alerts, deps } = world('down-tamper');
    const tampered = await pushSigned('down-tamper/app', 'v1');
    const lost = await pushSigned('down-tamper/lost', 'v1');
    assert.deepEqual(statuses(await reverifyOnce(deps())), [
      [ref('down-tamper/app', 'v1'), 'valid'],
      [ref('down-tamper/lost', 'v1'), 'valid'],
    ]);
    // The .sig signature tampered with on one image, gone from the other; their bundles still verify.
    await rewriteSignatureManifest(harness.registry, tampered, flipSignatures);
    const sig = await harness.registry.getManifest(lost, signatureTag(lost.digest));
    assert.equal(await harness.registry.deleteManifest(lost, sig.descriptor.digest), true);
    const unavailable: typeof fetch = async () => new Response('busy', { status: 503 });
    const summary = await reverifyOnce(deps({}, unavailable));
    assert.deepEqual(summary.errors, []);
    assert.deepEqual(statuses(summary), [
      [ref('down-tamper/app', 'v1'), 'invalid'],
      [ref('down-tamper/lost', 'v1'), 'missing'],
    ]);
    assert.deepEqual(alerts.openKinds(ref('down-tamper/app', 'v1')), ['signature-invalid']);
    assert.deepEqual(alerts.openKinds(ref('down-tamper/lost', 'v1')), ['signature-missing']);
  });

  it('expects a layout whose signature verified though its log entry could not be proven, so its loss is missing', async () => {
    const { store, alerts, deps } = world('expect');
    const image = await pushSigned('expect/app', 'v1');
    const leftOut: typeof fetch = async () =>
      new Response('[]', { status: 200, headers: { 'content-type': 'application/json' } });
    assert.deepEqual(statuses(await reverifyOnce(deps({}, leftOut))), [[ref('expect/app', 'v1'), 'invalid']]);
    assert.deepEqual(store.records.get(ref('expect/app', 'v1'))!.verifiedLayouts, ['bundle', 'cosign']);
    const sig = await harness.registry.getManifest(image, signatureTag(image.digest));
    assert.equal(await harness.registry.deleteManifest(image, sig.descriptor.digest), true);
    assert.deepEqual(statuses(await reverifyOnce(deps())), [[ref('expect/app', 'v1'), 'missing']]);
    // The first pass's signature-invalid stays open (an operator resolves it).
    assert.deepEqual(alerts.openKinds(ref('expect/app', 'v1')), ['signature-invalid', 'signature-missing']);
  });

  it('takes an entry left out of an answer as lost only when the pass checkpoint holds it', async () => {
    const { store, deps } = world('lagging');
    await pushSigned('lagging/old', 'v1');
    await reverifyOnce(deps());
    const unrecordedOf = (repository: string) => {
      const evidence = store.records.get(ref(repository, 'v1'))!.findings.flatMap((f) => f.log ?? [])[0]!;
      const { provenAtTreeSize: _s, provenAtRoot: _r, ...unrecorded } = evidence;
      return { evidence, unrecorded };
    };
    const leftOut: typeof fetch = async () =>
      new Response('[]', { status: 200, headers: { 'content-type': 'application/json' } });
    const pass = new InclusionRechecker({
      client: harness.logClient,
      baseUrl: harness.rekor.url,
      fetch: leftOut,
    });
    // The pass reads the log's checkpoint (by a recorded tree's consistency, no entry read)...
    assert.equal((await pass.recheck(unrecordedOf('lagging/old').evidence))?.ok, true);
    // ...before this image is signed: its entries are beyond that checkpoint.
    await pushSigned('lagging/new', 'v1');
    await reverifyOnce(deps());
    await assert.rejects(pass.recheck(unrecordedOf('lagging/new').unrecorded), (err: unknown) => {
      assert.ok(err instanceof DependencyError, String(err));
      assert.match(err.message, /was not served, and is beyond the log's checkpoint of size \d+/);
      return true;
    });
    const lost = await pass.recheck(unrecordedOf('lagging/old').unrecorded);
    assert.equal(lost?.ok, false);
    assert.match(lost!.reason!, /is not in the log/);
  });

  it('turns a finding made invalid by one failed inclusion re-check valid again once the log recovers', async () => {
    const { alerts, deps } = world('glitch');
    await pushSigned('glitch/app', 'v1');
    const leftOut: typeof fetch = async () =>
      new Response('[]', { status: 200, headers: { 'content-type': 'application/json' } });
    assert.deepEqual(statuses(await reverifyOnce(deps({}, leftOut))), [[ref('glitch/app', 'v1'), 'invalid']]);
    assert.deepEqual(alerts.openKinds(ref('glitch/app', 'v1')), ['signature-invalid']);
    const recovered = await reverifyOnce(deps());
    assert.deepEqual(statuses(recovered), [[ref('glitch/app', 'v1'), 'valid']]);
    // A log that left out an entry it holds is evidence too: an operator closes the incident.
    assert.deepEqual(alerts.openKinds(ref('glitch/app', 'v1')), ['signature-invalid']);
  });

  it('takes a recorded finding as made invalid by the re-check only by its mark (or, recorded before the mark, with the log entries of a verified signature), never by its reason alone', async () => {
    const { store, deps } = world('marked');
    await pushSigned('marked/app', 'v1');
    const tag = ref('marked/app', 'v1');
    const rewrite = async (edit: (findings: SignatureFinding[]) => void) => {
      const basis = (await store.load([tag])).get(tag)!;
      const next = structuredClone(basis);
      edit(next.findings);
      assert.equal(await store.put(next, basis), 'stored');
    };
    const leftOut: typeof fetch = async () =>
      new Response('[]', { status: 200, headers: { 'content-type': 'application/json' } });
    assert.deepEqual(statuses(await reverifyOnce(deps({}, leftOut))), [[tag, 'invalid']]);
    const findings = store.records.get(tag)!.findings;
    assert.ok(findings.some((f) => f.outcome === 'invalid'));
    assert.ok(findings.every((f) => f.outcome !== 'invalid' || f.inclusionRecheckFailed === true));
    // Recorded before the mark: known by the reason and the verified signature's log entries.
    await rewrite((fs) => {
      for (const f of fs) delete f.inclusionRecheckFailed;
    });
    const recovered = await reverifyOnce(deps());
    assert.deepEqual(statuses(recovered), [[tag, 'valid']]);
    assert.equal(recovered.cached, 1, 'the recorded findings were re-checked, not verified again');
    // A signature that failed its own check, whose reason happens to read like the re-check's.
    await rewrite((fs) => {
      for (const f of fs) {
        f.outcome = 'invalid';
        f.reason = 'log inclusion re-check failed: words an error message quoted';
        delete f.log;
      }
    });
    const again = await reverifyOnce(deps());
    assert.equal(again.cached, 1);
    assert.deepEqual(statuses(again), [[tag, 'invalid']]);
  });

  it('accounts for a listed tag that answers 404 when resolved', async () => {
    const { deps } = world('gone');
    await pushSigned('gone/app', 'v1');
    await push('gone/app', 'flaky');
    intercept = (req, res) => {
      if (req.method !== 'HEAD' || !req.url.pathname.endsWith('/gone/app/manifests/flaky')) return false;
      res.writeHead(404, { 'content-type': 'application/json' }).end();
      return true;
    };
    let summary: ReverifySummary;
    try {
      summary = await reverifyOnce(deps());
    } finally {
      intercept = undefined;
    }
    assert.deepEqual(statuses(summary), [[ref('gone/app', 'v1'), 'valid']]);
    assert.deepEqual(summary.gone, [ref('gone/app', 'flaky')]);
    const counted = Object.values(summary.byStatus).reduce((a, b) => a + b, 0);
    assert.equal(counted + summary.gone.length + summary.errors.length, summary.tags);
  });
});
