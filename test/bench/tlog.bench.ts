/**
 * Transparency-log benchmark (not a test): `node test/bench/tlog.bench.ts [--scale N]`.
 * Prints entries appended/s over HTTP (mixed kinds, signatures verified), proofs served/s,
 * Rekor v2 appends/s, tlog-tiles hash tiles served/s and entries read/s from entry bundles,
 * entries parsed/s on one core for a recorded mix, and with --scale N a direct store append of N
 * leaves with proof timings and memory, to check O(log n) behaviour at a million entries.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startRekorServer } from '../../emulators/rekor/server.ts';
import { LogStore } from '../../emulators/rekor/store.ts';
import { RekorV2Client } from '../../functions/tlog/client/index.ts';
import { parseEntryBody } from '../../functions/tlog/entries/index.ts';
import { tilePath, tileWidth } from '../../functions/tlog/tiles/index.ts';
import { onInterrupt } from './interrupt.ts';

const { values } = parseArgs({
  options: {
    scale: { type: 'string' },
    appends: { type: 'string', default: '600' },
    'v2-appends': { type: 'string', default: '1200' },
  },
});
const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = key.publicKey.export({ format: 'pem', type: 'spki' }).toString();
const pemB64 = Buffer.from(pem).toString('base64');

function pae(type: string, payload: Buffer): Buffer {
  return Buffer.from(
    `DSSEv1 ${type.length} ${type} ${payload.length} ${payload.toString('binary')}`,
    'binary',
  );
}

function proposal(i: number): unknown {
  const data = Buffer.from(`bench artifact ${i} ${Math.random()}`);
  const kind = i % 3;
  if (kind === 0) {
    return {
      apiVersion: '0.0.1',
      kind: 'hashedrekord',
      spec: {
        data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(data).digest('hex') } },
        signature: {
          content: sign('sha256', data, key.privateKey).toString('base64'),
          publicKey: { content: pemB64 },
        },
      },
    };
  }
  const type = 'application/vnd.in-toto+json';
  const sig = sign('sha256', pae(type, data), key.privateKey);
  if (kind === 1) {
    const envelope = JSON.stringify({
      payload: data.toString('base64'),
      payloadType: type,
      signatures: [{ sig: sig.toString('base64'), keyid: '' }],
    });
    return {
      apiVersion: '0.0.1',
      kind: 'dsse',
      spec: { proposedContent: { envelope, verifiers: [pemB64] } },
    };
  }
  return {
    apiVersion: '0.0.2',
    kind: 'intoto',
    spec: {
      content: {
        envelope: {
          payloadType: type,
          payload: Buffer.from(data.toString('base64')).toString('base64'),
          signatures: [{ sig: Buffer.from(sig.toString('base64')).toString('base64'), publicKey: pemB64 }],
        },
      },
    },
  };
}

const spkiB64 = key.publicKey.export({ format: 'der', type: 'spki' }).toString('base64');

/** A Rekor v2 CreateEntryRequest for one artifact. */
function v2Request(i: number): unknown {
  const data = Buffer.from(`bench v2 artifact ${i} ${Math.random()}`);
  return {
    hashedRekordRequestV002: {
      digest: createHash('sha256').update(data).digest('base64'),
      signature: {
        content: sign('sha256', data, key.privateKey).toString('base64'),
        verifier: { publicKey: { rawBytes: spkiB64 }, keyDetails: 'PKIX_ECDSA_P256_SHA_256' },
      },
    },
  };
}

const rate = (n: number, ms: number): string => `${Math.round((n * 1000) / ms)}/s`;
const dir = mkdtempSync(join(tmpdir(), 'tlog-bench-'));
onInterrupt(() => rmSync(dir, { recursive: true, force: true }));
try {
  const server = await startRekorServer({ dataDir: join(dir, 'http') });
  const n = Number(values.appends);
  const bodies: string[] = [];
  let t = performance.now();
  for (let i = 0; i < n; i += 8) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(8, n - i) }, (_, k) =>
        fetch(`${server.url}/api/v1/log/entries`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(proposal(i + k)),
        }).then((r) => r.json()),
      ),
    );
    for (const e of batch) bodies.push((Object.values(e as object)[0] as { body: string }).body);
  }
  console.log(
    `appended over HTTP (hashedrekord/dsse/intoto 1:1:1, signatures verified): ${n} in ${Math.round(performance.now() - t)} ms = ${rate(n, performance.now() - t)}`,
  );

  t = performance.now();
  const proofs = 2000;
  for (let i = 0; i < proofs; i += 8) {
    await Promise.all(
      Array.from({ length: 8 }, (_, k) =>
        fetch(`${server.url}/api/v1/log/entries?logIndex=${(i + k) % n}`).then((r) => r.json()),
      ),
    );
  }
  console.log(`entries with inclusion proof + SET served over HTTP: ${rate(proofs, performance.now() - t)}`);
  t = performance.now();
  for (let i = 0; i < proofs; i++)
    await fetch(`${server.url}/api/v1/log/proof?firstSize=${1 + (i % (n - 1))}&lastSize=${n}`).then((r) =>
      r.json(),
    );
  console.log(`consistency proofs served over HTTP: ${rate(proofs, performance.now() - t)}`);

  // Rekor v2 (rekor-tiles): hashedrekord v0.0.2 appends, tiles served, entries read from bundles.
  const v2n = Number(values['v2-appends']);
  t = performance.now();
  for (let i = 0; i < v2n; i += 8) {
    await Promise.all(
      Array.from({ length: Math.min(8, v2n - i) }, async (_, k) => {
        const res = await fetch(`${server.url}/api/v2/log/entries`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(v2Request(i + k)),
        });
        if (res.status !== 201) throw new Error(`v2 append answered ${res.status}`);
        await res.arrayBuffer();
      }),
    );
  }
  console.log(
    `v2 hashedrekord 0.0.2 appended over HTTP (signatures verified): ${v2n} = ${rate(v2n, performance.now() - t)}`,
  );
  const v2client = new RekorV2Client({ baseUrl: server.url, logKey: server.v2PublicKeyPem, concurrency: 4 });
  const cp = await v2client.getCheckpoint();
  const paths: string[] = [];
  for (let n = 0; n * 256 < cp.size; n++) paths.push(tilePath(0, n, tileWidth(0, n, cp.size)));
  if (tileWidth(1, 0, cp.size) > 0) paths.push(tilePath(1, 0, tileWidth(1, 0, cp.size)));
  const tiles = 4000;
  t = performance.now();
  for (let i = 0; i < tiles; i += 8) {
    await Promise.all(
      Array.from({ length: 8 }, (_, k) =>
        fetch(`${server.url}/${paths[(i + k) % paths.length]}`).then((r) => r.arrayBuffer()),
      ),
    );
  }
  console.log(
    `v2 hash tiles served over HTTP (${paths.length} distinct, full and partial): ${rate(tiles, performance.now() - t)}`,
  );
  const rounds2 = 5;
  t = performance.now();
  let read = 0;
  for (let r = 0; r < rounds2; r++) {
    // A fresh client each round, so tiles are fetched and authenticated again, not served from its cache.
    const c = new RekorV2Client({ baseUrl: server.url, logKey: server.v2PublicKeyPem, concurrency: 4 });
    read += (await c.getEntries(0, cp.size, cp)).length;
  }
  console.log(
    `v2 entries read from entry bundles (each entry hashed, each bundle's leaves proven against the checkpoint with the upper tiles and the partial right edge): ${rate(read, performance.now() - t)}`,
  );
  await server.close();

  // Recorded mix: the real public bodies in test/fixtures plus the bodies just logged.
  const fixtures = join(import.meta.dirname, '../fixtures/tlog/entries');
  const real = [
    'prod_dsse_logIndex27246114.DERIVED.json',
    'prod_intoto_logIndex27244980.DERIVED.json',
    'rekor-response__valid__entry.json',
    'rekor-response__valid__jar-entry.json',
  ].map(
    (f) =>
      (Object.values(JSON.parse(readFileSync(join(fixtures, f), 'utf8')) as object)[0] as { body: string })
        .body,
  );
  // and a real Rekor v2 hashedrekord 0.0.2 body (log2025-1).
  real.push(
    (
      JSON.parse(
        readFileSync(
          join(fixtures, 'prod_log2025-1_TransparencyLogEntry_logIndex4855114.DERIVED.json'),
          'utf8',
        ),
      ) as { canonicalizedBody: string }
    ).canonicalizedBody,
  );
  const mix = [...real, ...bodies];
  const rounds = 20;
  t = performance.now();
  let ok = 0;
  for (let r = 0; r < rounds; r++) for (const b of mix) if (parseEntryBody(b).ok) ok++;
  console.log(
    `entries parsed on one core (mix: ${real.length} real public + ${bodies.length} logged; ${ok} ok): ${rate(rounds * mix.length, performance.now() - t)}`,
  );

  if (values.scale !== undefined) {
    const N = Number(values.scale);
    const store = new LogStore(join(dir, 'scale'));
    const body = Buffer.alloc(600, 'x');
    t = performance.now();
    for (let i = 0; i < N; i++) {
      body.writeUInt32BE(i, 0);
      store.append(Buffer.from(body), { integratedTime: 0, keys: [] });
    }
    const appendMs = performance.now() - t;
    console.log(
      `scale: ${N} direct appends in ${Math.round(appendMs)} ms = ${rate(N, appendMs)}; rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB`,
    );
    t = performance.now();
    const P = 20000;
    for (let i = 0; i < P; i++) {
      store.inclusionProof(Math.floor(Math.random() * N));
      store.consistencyProof(1 + Math.floor(Math.random() * (N - 1)));
    }
    console.log(`scale: inclusion+consistency proof pairs at size ${N}: ${rate(P, performance.now() - t)}`);
    t = performance.now();
    store.close();
    const reopened = new LogStore(join(dir, 'scale'));
    console.log(
      `scale: reopened ${reopened.size} entries in ${Math.round(performance.now() - t)} ms; rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB`,
    );
    reopened.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
