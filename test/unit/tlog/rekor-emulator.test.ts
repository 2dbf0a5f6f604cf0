import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { DSSEBundleBuilder, MessageSignatureBundleBuilder, RekorWitness, type Signer } from '@sigstore/sign';
import { type TrustMaterial, toSignedEntity, Verifier } from '@sigstore/verify';
import { type RekorServer, startRekorServer } from '../../../emulators/rekor/server.ts';
import { rekorV1NoteVerifier, verifyCheckpoint } from '../../../functions/tlog/checkpoint/index.ts';
import { hashLeaf, verifyConsistency, verifyInclusion } from '../../../functions/tlog/merkle/index.ts';

const signingKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingPem = signingKey.publicKey.export({ format: 'pem', type: 'spki' }).toString();
const signer: Signer = {
  sign: async (data) => ({
    signature: sign('sha256', data, signingKey.privateKey),
    key: { $case: 'publicKey', publicKey: signingPem, hint: 'local-key' },
  }),
};

function trustMaterial(server: RekorServer): TrustMaterial {
  const logKey = createPublicKey(server.publicKeyPem);
  const forever = { start: new Date(0), end: new Date(8.64e15) };
  return {
    certificateAuthorities: [],
    timestampAuthorities: [],
    ctlogs: [],
    tlogs: [
      {
        logID: createHash('sha256')
          .update(logKey.export({ format: 'der', type: 'spki' }))
          .digest(),
        baseURL: server.url,
        publicKey: logKey,
        validFor: forever,
      },
    ],
    publicKey: () => ({ publicKey: signingKey.publicKey, validFor: () => true }),
  };
}

function hashedrekordProposal(data: Buffer): Record<string, unknown> {
  return {
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(data).digest('hex') } },
      signature: {
        content: sign('sha256', data, signingKey.privateKey).toString('base64'),
        publicKey: { content: Buffer.from(signingPem).toString('base64') },
      },
    },
  };
}

async function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('Rekor emulator', () => {
  let dir: string;
  let server: RekorServer;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rekor-emu-'));
    server = await startRekorServer({ dataDir: dir });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const entryType of ['dsse', 'intoto'] as const) {
    it(`a DSSE bundle witnessed as ${entryType} by RekorWitness verifies with @sigstore/verify`, async () => {
      const builder = new DSSEBundleBuilder({
        signer,
        witnesses: [new RekorWitness({ rekorBaseURL: server.url, entryType })],
      });
      const bundle = await builder.create({
        data: Buffer.from(`{"hello":"${entryType}"}`),
        type: 'application/json',
      });
      const entry = bundle.verificationMaterial.tlogEntries[0]!;
      assert.equal(entry.kindVersion?.kind, entryType);
      assert.ok(entry.inclusionProof?.checkpoint?.envelope);
      const verifier = new Verifier(trustMaterial(server), { tlogThreshold: 1, ctlogThreshold: 0 });
      verifier.verify(toSignedEntity(bundle));
      // The same bundle under another log key must not verify.
      const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
        format: 'pem',
        type: 'spki',
      });
      assert.throws(() =>
        new Verifier(trustMaterial({ ...server, publicKeyPem: other.toString() }), {
          tlogThreshold: 1,
          ctlogThreshold: 0,
        }).verify(toSignedEntity(bundle)),
      );
    });
  }

  it('a message-signature bundle (hashedrekord) verifies with @sigstore/verify', async () => {
    const builder = new MessageSignatureBundleBuilder({
      signer,
      witnesses: [new RekorWitness({ rekorBaseURL: server.url })],
    });
    const artifact = Buffer.from('an artifact');
    const bundle = await builder.create({ data: artifact });
    assert.equal(bundle.verificationMaterial.tlogEntries[0]!.kindVersion?.kind, 'hashedrekord');
    new Verifier(trustMaterial(server), { tlogThreshold: 1, ctlogThreshold: 0 }).verify(
      toSignedEntity(bundle, artifact),
    );
  });

  it('answers 409 with the location of an equivalent entry, and that entry is fetchable', async () => {
    const proposal = hashedrekordProposal(Buffer.from('dup'));
    const first = await post(`${server.url}/api/v1/log/entries`, proposal);
    assert.equal(first.status, 201);
    const [uuid] = Object.keys((await first.json()) as object);
    const second = await post(`${server.url}/api/v1/log/entries`, proposal);
    assert.equal(second.status, 409);
    assert.equal(second.headers.get('location'), `/api/v1/log/entries/${uuid}`);
    const err = (await second.json()) as { code: number; message: string };
    assert.equal(err.code, 409);
    const got = await fetch(`${server.url}${second.headers.get('location')}`);
    assert.deepEqual(Object.keys((await got.json()) as object), [uuid]);
  });

  it('rejects a bad signature, an unknown kind and malformed JSON with Rekor error bodies', async () => {
    const proposal = hashedrekordProposal(Buffer.from('x')) as {
      spec: { data: { hash: { value: string } } };
    };
    proposal.spec.data.hash.value = createHash('sha256').update('y').digest('hex');
    for (const body of [proposal, { apiVersion: '0.0.1', kind: 'rpm', spec: {} }]) {
      const res = await post(`${server.url}/api/v1/log/entries`, body);
      assert.equal(res.status, 400);
      const err = (await res.json()) as { code: number; message: string };
      assert.equal(err.code, 400);
      assert.ok(err.message.length > 0);
    }
    const res = await fetch(`${server.url}/api/v1/log/entries`, { method: 'POST', body: '{' });
    assert.equal(res.status, 400);
  });

  it('serves a signed checkpoint, inclusion and consistency proofs that verify, search and retrieve', async () => {
    const before = (await (await fetch(`${server.url}/api/v1/log`)).json()) as {
      treeSize: number;
      rootHash: string;
    };
    const created = (await (
      await post(`${server.url}/api/v1/log/entries`, hashedrekordProposal(Buffer.from('p')))
    ).json()) as Record<
      string,
      {
        body: string;
        logIndex: number;
        verification: { inclusionProof: { hashes: string[]; treeSize: number; rootHash: string } };
      }
    >;
    const [uuid, entry] = Object.entries(created)[0]!;
    const info = (await (await fetch(`${server.url}/api/v1/log`)).json()) as {
      treeSize: number;
      rootHash: string;
      signedTreeHead: string;
    };
    const cp = verifyCheckpoint(info.signedTreeHead, rekorV1NoteVerifier(server.publicKeyPem));
    assert.equal(cp.size, info.treeSize);
    assert.equal(cp.rootHash.toString('hex'), info.rootHash);
    const proof = entry.verification.inclusionProof;
    verifyInclusion(
      entry.logIndex,
      proof.treeSize,
      hashLeaf(Buffer.from(entry.body, 'base64')),
      proof.hashes.map((h) => Buffer.from(h, 'hex')),
      Buffer.from(proof.rootHash, 'hex'),
    );
    const cons = (await (
      await fetch(`${server.url}/api/v1/log/proof?firstSize=${before.treeSize}&lastSize=${info.treeSize}`)
    ).json()) as { hashes: string[] };
    verifyConsistency(
      before.treeSize,
      info.treeSize,
      cons.hashes.map((h) => Buffer.from(h, 'hex')),
      Buffer.from(before.rootHash, 'hex'),
      Buffer.from(info.rootHash, 'hex'),
    );
    const search = (await (
      await post(`${server.url}/api/v1/index/retrieve`, {
        hash: `sha256:${createHash('sha256').update('p').digest('hex')}`,
      })
    ).json()) as string[];
    assert.deepEqual(search, [uuid]);
    const byKey = (await (
      await post(`${server.url}/api/v1/index/retrieve`, {
        publicKey: { format: 'x509', content: Buffer.from(signingPem).toString('base64') },
      })
    ).json()) as string[];
    assert.ok(byKey.includes(uuid!));
    const batch = (await (
      await post(`${server.url}/api/v1/log/entries/retrieve`, { logIndexes: [0, entry.logIndex] })
    ).json()) as object[];
    assert.equal(batch.length, 2);
    const pem = await (await fetch(`${server.url}/api/v1/log/publicKey`)).text();
    assert.equal(pem, server.publicKeyPem);
  });

  it('survives a restart: same key, size and root; appends continue', async () => {
    const d = mkdtempSync(join(tmpdir(), 'rekor-restart-'));
    try {
      const s1 = await startRekorServer({ dataDir: d });
      const proposals = [0, 1, 2, 3, 4].map((i) => hashedrekordProposal(Buffer.from(`r${i}`)));
      for (const p of proposals) assert.equal((await post(`${s1.url}/api/v1/log/entries`, p)).status, 201);
      const info1 = (await (await fetch(`${s1.url}/api/v1/log`)).json()) as {
        treeSize: number;
        rootHash: string;
      };
      await s1.close();
      const s2 = await startRekorServer({ dataDir: d });
      try {
        assert.equal(s2.publicKeyPem, s1.publicKeyPem);
        const info2 = (await (await fetch(`${s2.url}/api/v1/log`)).json()) as {
          treeSize: number;
          rootHash: string;
        };
        assert.deepEqual(info2, { ...info2, treeSize: 5, rootHash: info1.rootHash });
        assert.equal((await post(`${s2.url}/api/v1/log/entries`, proposals[0])).status, 409);
        assert.equal(
          (await post(`${s2.url}/api/v1/log/entries`, hashedrekordProposal(Buffer.from('r5')))).status,
          201,
        );
        const cons = (await (await fetch(`${s2.url}/api/v1/log/proof?firstSize=5&lastSize=6`)).json()) as {
          hashes: string[];
          rootHash: string;
        };
        verifyConsistency(
          5,
          6,
          cons.hashes.map((h) => Buffer.from(h, 'hex')),
          Buffer.from(info1.rootHash, 'hex'),
          Buffer.from(cons.rootHash, 'hex'),
        );
      } finally {
        await s2.close();
      }
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('the CLI prints a ready line and exits cleanly on SIGTERM', async () => {
    const d = mkdtempSync(join(tmpdir(), 'rekor-cli-'));
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, '../../../emulators/rekor/main.ts'), '--port', '0', '--data-dir', d],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      const line = await new Promise<string>((resolve) =>
        createInterface({ input: child.stdout }).once('line', resolve),
      );
      const ready = JSON.parse(line) as { ready: boolean; url: string; publicKeyPem: string };
      assert.equal(ready.ready, true);
      assert.match(ready.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal((await fetch(`${ready.url}/api/v1/log/publicKey`)).status, 200);
      const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      assert.equal(await exit, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(d, { recursive: true, force: true });
    }
  });
});
