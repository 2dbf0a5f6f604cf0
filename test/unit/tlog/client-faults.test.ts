import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { type RekorServer, startRekorServer } from '../../../emulators/rekor/server.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { LogIntegrityError, RekorV1Client } from '../../../functions/tlog/client/index.ts';
import { parseEntryBody } from '../../../functions/tlog/entries/index.ts';

const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = key.publicKey.export({ format: 'pem', type: 'spki' }).toString();

function proposal(i: number): Record<string, unknown> {
  const data = Buffer.from(`artifact ${i}`);
  return {
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(data).digest('hex') } },
      signature: {
        content: sign('sha256', data, key.privateKey).toString('base64'),
        publicKey: { content: Buffer.from(pem).toString('base64') },
      },
    },
  };
}

const integrity = (reason: string) => (err: unknown) =>
  err instanceof LogIntegrityError && err.reason === reason;

describe('RekorV1Client against the emulator and each of its faults', () => {
  let dir: string;
  let server: RekorServer;
  let client: RekorV1Client;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rekor-client-'));
    server = await startRekorServer({ dataDir: dir });
    client = new RekorV1Client({
      baseUrl: server.url,
      logKey: server.publicKeyPem,
      retries: 1,
      timeoutMs: 2000,
      concurrency: 3,
    });
    for (let i = 0; i < 25; i++) await client.append(proposal(i));
  });
  afterEach(() => server.faults.clear());
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('honest log: append (and re-append of an equal entry), checkpoint, consistency, ranges', async () => {
    const p = proposal(100);
    const first = await client.append(p);
    const again = await client.append(p);
    assert.equal(again.uuid, first.uuid);
    const cp1 = await client.getCheckpoint();
    await client.append(proposal(101));
    const cp2 = await client.getCheckpoint();
    await client.verifyConsistency(cp1, cp2);
    const entries = await client.getEntries(0, cp2.size, cp2);
    assert.deepEqual(
      entries.map((e) => e.logIndex),
      Array.from({ length: cp2.size }, (_, i) => i),
    );
    const parsed = parseEntryBody(entries[3]!.body, 3);
    assert.ok(parsed.ok);
    assert.equal(parsed.entry.kind, 'hashedrekord');
    assert.equal(parsed.entry.artifactDigest?.hex, createHash('sha256').update('artifact 3').digest('hex'));
    assert.equal(parsed.entry.verifier.type, 'publicKey');
  });

  it('a body that is not base64 or a proof hash that is not hex SHA-256 is malformed, named by its index', async () => {
    const entry = await client.getEntryByIndex(5);
    const proof = entry.verification!.inclusionProof!;
    const withHash = (h: string) => ({
      ...entry,
      verification: {
        ...entry.verification,
        inclusionProof: { ...proof, hashes: [...proof.hashes.slice(0, -1), h] },
      },
    });
    const last = proof.hashes.at(-1)!;
    const malformedAt5 = (err: unknown) =>
      err instanceof LogIntegrityError && err.reason === 'malformed' && err.details['logIndex'] === 5;
    // The last hash is one a scan's climb may never read: it is checked all the same.
    for (const bad of [`${last.slice(0, 40)}g${last.slice(41)}`, last.slice(1), `${last}00`]) {
      assert.throws(() => client.verifyEntry(withHash(bad), 5), malformedAt5, bad);
    }
    client.verifyEntry(withHash(last.toUpperCase()), 5); // hex in either case is the same hash
    const body = entry.body;
    for (const bad of [`${body.slice(0, 10)}*${body.slice(11)}`, `${body} `, body.slice(1)]) {
      assert.throws(() => client.verifyEntry({ ...entry, body: bad }, 5), malformedAt5);
    }
  });

  it('split view: a forked checkpoint is not consistent with the trusted one', async () => {
    const trusted = await client.getCheckpoint();
    await client.append(proposal(200));
    server.faults.set({ splitView: true });
    const forked = await client.getCheckpoint(); // correctly signed: only consistency reveals it
    await assert.rejects(client.verifyConsistency(trusted, forked), integrity('inconsistent'));
    await assert.rejects(client.getEntryByIndex(1), integrity('bad-inclusion-proof'));
  });

  it('rewritten old entry: its inclusion proof fails and the error names its index', async () => {
    server.faults.set({ rewriteEntry: 4 });
    const cp = await client.getCheckpoint();
    await assert.rejects(client.getEntries(0, cp.size, cp), (err: unknown) => {
      return (
        err instanceof LogIntegrityError &&
        err.reason === 'bad-inclusion-proof' &&
        err.details['logIndex'] === 4
      );
    });
  });

  it('checkpoint signed with another key is rejected', async () => {
    server.faults.set({ wrongCheckpointKey: true });
    await assert.rejects(client.getCheckpoint(), integrity('bad-checkpoint'));
    await assert.rejects(client.getEntryByIndex(2), integrity('bad-checkpoint'));
  });

  it('shrunk tree is detected', async () => {
    const trusted = await client.getCheckpoint();
    server.faults.set({ shrinkBy: 3 });
    const smaller = await client.getCheckpoint();
    assert.equal(smaller.size, trusted.size - 3);
    await assert.rejects(client.verifyConsistency(trusted, smaller), integrity('shrunk'));
  });

  it('wrong inclusion proof is detected', async () => {
    server.faults.set({ wrongInclusionProof: true });
    await assert.rejects(client.getEntryByIndex(7), integrity('bad-inclusion-proof'));
  });

  it('wrong consistency proof is detected', async () => {
    const trusted = await client.getCheckpoint();
    await client.append(proposal(300));
    const next = await client.getCheckpoint();
    server.faults.set({ wrongConsistencyProof: true });
    await assert.rejects(client.verifyConsistency(trusted, next), integrity('inconsistent'));
  });

  it('5xx: a transient one is retried, a persistent one is a retryable DependencyError', async () => {
    server.faults.set({ errorStatus: 503, errorCount: 1 });
    await client.getCheckpoint();
    server.faults.set({ errorStatus: 500, errorCount: 100 });
    await assert.rejects(
      client.getCheckpoint(),
      (err: unknown) => err instanceof DependencyError && err.retryable,
    );
  });

  it('429: the rate limit is waited out as Retry-After asks, then the request goes through', async () => {
    const patient = new RekorV1Client({ baseUrl: server.url, logKey: server.publicKeyPem, retries: 3 });
    server.faults.set({ errorStatus: 429, errorCount: 2 });
    const started = performance.now();
    const checkpoint = await patient.getCheckpoint();
    assert.ok(checkpoint.size >= 0);
    assert.ok(performance.now() - started >= 1900, 'two Retry-After: 1 answers were honoured');
    server.faults.set({ errorStatus: 429, errorCount: 100 });
    await assert.rejects(
      client.getCheckpoint(),
      (err: unknown) => err instanceof DependencyError && err.retryable,
    );
  });

  it('slow answers past the timeout are a retryable DependencyError', async () => {
    const impatient = new RekorV1Client({
      baseUrl: server.url,
      logKey: server.publicKeyPem,
      retries: 0,
      timeoutMs: 100,
    });
    server.faults.set({ delayMs: 1000 });
    await assert.rejects(impatient.getCheckpoint(), (err: unknown) => err instanceof DependencyError);
  });

  it('a log under another key is not trusted', async () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const wrong = new RekorV1Client({ baseUrl: server.url, logKey: other, retries: 0 });
    await assert.rejects(wrong.getCheckpoint(), integrity('bad-checkpoint'));
    await assert.rejects(wrong.getEntryByIndex(0), integrity('wrong-log'));
  });
});
