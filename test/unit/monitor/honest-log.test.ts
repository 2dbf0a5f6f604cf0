/**
 * An honest log of 100,000 entries raises nothing it should not: real public entry bodies of every
 * kind in the fixtures (keyless hashedrekord, dsse, intoto, jar; key-signed entries), each about
 * another artifact, appended straight to the Rekor emulator's store, plus entries by the owned KMS
 * key that sigsentry's signing records explain, and the real entries of an owned keyless identity.
 * One monitor run from index 0 scans all of it: every owned-key entry matched and explained, every
 * entry of the owned keyless identity reported (sigsentry signs with KMS keys only, so no signing
 * record explains a Fulcio certificate's signature, even one holding that signature:
 * signing-lookup.ts recordMismatch), no other alert, the cursor at the tree size.
 *
 * The emulator runs in a worker thread so the log and the monitor each have a core.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { LogStore } from '../../../emulators/rekor/store.ts';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { runMonitor } from '../../../functions/monitor-log/core.ts';
import { extractVerifiers } from '../../../functions/monitor-log/entry-verifiers.ts';
import { logSourceFor } from '../../../functions/monitor-log/from-env.ts';
import { resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { canonicalJson } from '../../../functions/tlog/entries/canonical.ts';
import { hashedRekordProposal } from '../../helpers/hashedrekord.ts';

const ENTRIES = 100_000;
/** One entry in this many is sigsentry's own (owned key, with a signing record). */
const OWN_EVERY = 1000;
const FIXTURES = join(import.meta.dirname, '../../fixtures/tlog');
/** The keyless identity of the sigstore-js provenance bundle, standing for an owned CI identity. */
const OWNED_SAN = 'https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main';
const OWNED_ISSUER = 'https://token.actions.githubusercontent.com';

const KEY_VERSION = 'projects/p/locations/global/keyRings/r/cryptoKeys/release/cryptoKeyVersions/1';

const ours = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const theirs = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pemOf = (k: KeyObject) => k.export({ format: 'pem', type: 'spki' }).toString();

/** Every distinct Rekor v1 entry body in the fixtures (bundles and GET-entry answers). */
function fixtureBodies(): Buffer[] {
  const seen = new Set<string>();
  const collect = (value: unknown): void => {
    if (value === null || typeof value !== 'object') return;
    for (const [k, v] of Object.entries(value)) {
      if ((k === 'canonicalizedBody' || k === 'body') && typeof v === 'string' && v.length > 100) {
        const ex = extractVerifiers(Buffer.from(v, 'base64'));
        if (ex.ok) seen.add(v);
      } else collect(v);
    }
  };
  const walk = (dir: string): void => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, d.name);
      if (d.isDirectory()) walk(path);
      else if (/\.(json|sigstore)$/.test(d.name)) {
        try {
          collect(JSON.parse(readFileSync(path, 'utf8')) as unknown);
        } catch {
          // not JSON
        }
      }
    }
  };
  walk(FIXTURES);
  return [...seen]
    .map((b) => Buffer.from(b, 'base64'))
    .filter((b) => !/"hashedRekordV002"|"dsseV002"/.test(b.toString('utf8')));
}

/** The same entry about another artifact: a unique leaf with the same shape and signer. */
function replay(body: Buffer, i: number): Buffer {
  const text = body.toString('utf8');
  const digest = createHash('sha256').update(`honest ${i}`).digest('hex');
  const out = text.replace(
    /"value":"([0-9a-f]+)"/,
    (_m, hex: string) => `"value":"${digest.repeat(Math.ceil(hex.length / 64)).slice(0, hex.length)}"`,
  );
  if (out === text) throw new Error('fixture body without an artifact digest');
  return Buffer.from(out);
}

function hashedrekord(key: typeof ours, i: number): { body: Buffer; signature: Buffer; data: Buffer } {
  const data = Buffer.from(`honest log artifact ${i}`);
  const { body, signature } = hashedRekordProposal(key, data);
  return { body: Buffer.from(canonicalJson(body)), signature, data };
}

interface Emulator {
  url: string;
  publicKeyPem: string;
  stop(): Promise<void>;
}

/** The Rekor emulator over `dataDir`, in a worker thread of this process. */
async function startEmulatorThread(dataDir: string): Promise<Emulator> {
  const server = new URL('../../../emulators/rekor/server.ts', import.meta.url).href;
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     import(workerData.server).then(async ({ startRekorServer }) => {
       const s = await startRekorServer({ dataDir: workerData.dataDir });
       parentPort.postMessage({ url: s.url, publicKeyPem: s.publicKeyPem });
       parentPort.once('message', () => s.close().then(() => parentPort.postMessage('closed')));
     });`,
    { eval: true, workerData: { server, dataDir } },
  );
  const info = await new Promise<{ url: string; publicKeyPem: string }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    ...info,
    async stop() {
      await new Promise((resolve) => {
        worker.once('message', resolve);
        worker.postMessage('close');
      });
      await worker.terminate();
    },
  };
}

describe('an honest log of 100,000 entries', () => {
  let dir: string;
  let emulator: Emulator;
  const records = new StaticSigningRecordLookup();
  const kinds = new Map<string, number>();
  let ownEntries = 0;
  /** Log indexes of the owned keyless identity's entries. */
  const keyless: number[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'honest-log-'));
    const real = fixtureBodies();
    const owned = real.filter((b) => keylessOf(b) === 'owned');
    assert.ok(real.length >= 8, `fixture bodies: ${real.length}`);
    assert.ok(owned.length > 0, 'a fixture entry by the owned keyless identity');
    const store = new LogStore(dir);
    for (let i = 0; i < ENTRIES; i++) {
      let body: Buffer;
      if (i % OWN_EVERY === 0) {
        const own = hashedrekord(ours, i);
        records.add(own.signature, {
          image: `reg/app@sha256:${i}`,
          keyVersion: KEY_VERSION,
          format: 'cosign',
          signedBytes: own.data,
        });
        body = own.body;
        ownEntries++;
      } else if (i % 10 === 1) {
        body = hashedrekord(theirs, i).body;
      } else {
        body = replay(real[i % real.length]!, i);
        if (keylessOf(body) === 'owned') keyless.push(i);
      }
      const ex = extractVerifiers(body);
      kinds.set(ex.kind ?? '?', (kinds.get(ex.kind ?? '?') ?? 0) + 1);
      store.append(body, { integratedTime: 1_700_000_000, keys: [] });
    }
    store.close();
    // Records holding the owned keyless identity's signatures (replayed bodies keep them) do not
    // make those entries sigsentry's: its key version's key is not the certificate's.
    for (const b of owned) {
      for (const v of (extractVerifiers(b) as { verifiers: Array<{ signature?: Buffer }> }).verifiers) {
        if (v.signature)
          records.add(v.signature, { image: 'reg/ci@sha256:00', keyVersion: KEY_VERSION, format: 'bundle' });
      }
    }
    emulator = await startEmulatorThread(dir);
  });
  after(async () => {
    await emulator?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("explains every owned-key entry, reports each of the owned keyless identity's and nothing else, and ends with the cursor at the tree size", async () => {
    assert.ok(kinds.size >= 4, `kinds in the log: ${[...kinds.keys()].join(', ')}`);
    const store = new MemoryMonitorStore();
    const alerts = new MemoryAlertSink();
    const identities = await resolveIdentities(
      [
        { type: 'kms', keyVersion: KEY_VERSION, name: 'release key' },
        { type: 'certificate', san: OWNED_SAN, issuer: OWNED_ISSUER, name: 'release workflow' },
      ],
      async () => pemOf(ours.publicKey),
    );
    const log = logSourceFor(
      { name: 'honest', kind: 'rekor-v1', url: emulator.url, publicKey: emulator.publicKeyPem },
      32,
    );
    const result = await runMonitor({
      logs: [{ name: 'honest', log, startIndex: 0 }],
      store,
      alerts,
      records,
      identities,
      logger: createMemoryLogger(),
    });
    const run = result.logs[0]!;
    assert.equal(result.ok, true, JSON.stringify({ ...run, error: String(run.error) }));
    assert.equal(run.outcome, 'scanned');
    assert.equal(run.treeSize, ENTRIES);
    assert.equal(run.scanned, ENTRIES);
    assert.equal(run.unparseable, 0);
    assert.ok(keyless.length > 0, 'the log holds entries of the owned keyless identity');
    assert.equal(
      run.matched,
      ownEntries + keyless.length,
      "the owned key's and the owned identity's entries",
    );
    assert.equal(run.rogue, keyless.length);
    assert.deepEqual(
      alerts.raised
        .map((a) => [a.kind, a.evidence.logIndex, a.evidence.identity])
        .sort((x, y) => Number(x[1]) - Number(y[1])),
      keyless.map((i) => ['rogue-signature', i, 'release workflow']),
    );
    const state = store.states.get('honest')!;
    assert.equal(state.cursor, ENTRIES);
    assert.equal(state.treeSize, ENTRIES);
  });
});

/** 'owned' when the body's certificate carries the owned SAN (a byte test, as the prefilter does). */
function keylessOf(body: Buffer): 'owned' | 'other' {
  const ex = extractVerifiers(body);
  if (!ex.ok) return 'other';
  return ex.verifiers.some((v) => v.type === 'certificate' && v.der.includes(Buffer.from(OWNED_SAN)))
    ? 'owned'
    : 'other';
}
