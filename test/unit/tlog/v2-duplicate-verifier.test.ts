/**
 * RekorV2Client.createEntry on 409 (AlreadyExists): the log names the index of the entry it calls a
 * duplicate, and the client reads that entry from its tiles. rekor-tiles finds duplicates by hashing
 * the whole canonicalised entry (Rekor v2 spec), verifier included, so the entry must be the one the
 * request makes: an entry with the same digest and signature but another key or certificate (with
 * ECDSA the same (r, s) verifies under a second, recoverable key) or other key details is a lie.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { ed25519NoteSigner, signNote } from '../../../functions/tlog/checkpoint/index.ts';
import { LogIntegrityError, RekorV2Client } from '../../../functions/tlog/client/index.ts';
import { hashLeaf } from '../../../functions/tlog/merkle/hash.ts';
import { encodeEntryBundle } from '../../../functions/tlog/tiles/bundle.ts';

const ORIGIN = 'log.example.dev';
const logKey = generateKeyPairSync('ed25519');
const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');
const DIGEST = b64(Buffer.alloc(32, 1));
const SIG = b64(Buffer.alloc(70, 2));
const MINE_DER = Buffer.from('MINE-DER-KEY-1'); // 14 bytes: its base64 ends in "="
const MINE = b64(MINE_DER);
const OTHER = b64('ATTACKER-DER-KEY');
const P256 = 'PKIX_ECDSA_P256_SHA_256';

type Verifier = Record<string, unknown>;
const publicKey = (raw: string, keyDetails = P256): Verifier => ({
  keyDetails,
  publicKey: { rawBytes: raw },
});
const certificate = (raw: string, keyDetails = P256): Verifier => ({
  keyDetails,
  x509Certificate: { rawBytes: raw },
});

function hashedRekordBody(verifier: Verifier, digest = DIGEST, content = SIG): Buffer {
  const spec = {
    hashedRekordV002: { data: { algorithm: 'SHA2_256', digest }, signature: { content, verifier } },
  };
  return Buffer.from(JSON.stringify({ apiVersion: '0.0.2', kind: 'hashedrekord', spec }));
}

/** A one-entry log holding `body`, which answers every POST with 409 naming entry 0. */
function client(body: Buffer): RekorV2Client {
  const leaf = hashLeaf(body);
  const cp = signNote(
    `${ORIGIN}\n1\n${leaf.toString('base64')}\n`,
    ed25519NoteSigner(ORIGIN, logKey.privateKey),
  );
  const fetch = (async (url: string, init?: RequestInit) => {
    const path = new URL(url).pathname;
    if (init?.method === 'POST') {
      return new Response('{"code":6,"message":"already exists"}', {
        status: 409,
        headers: { 'x-log-index': '0' },
      });
    }
    if (path === '/checkpoint') return new Response(cp);
    if (path === '/tile/entries/000.p/1') return new Response(encodeEntryBundle([body]));
    if (path === '/tile/0/000.p/1') return new Response(leaf);
    return new Response('not found', { status: 404 });
  }) as typeof globalThis.fetch;
  return new RekorV2Client({ baseUrl: `https://${ORIGIN}`, logKey: logKey.publicKey, fetch, retries: 0 });
}

const hashedRekordRequest = (verifier: Verifier, digest = DIGEST) => ({
  hashedRekordRequestV002: { digest, signature: { content: SIG, verifier } },
});

const wrongDuplicate = (err: unknown) => {
  assert.ok(err instanceof LogIntegrityError, String(err));
  assert.equal(err.reason, 'wrong-duplicate', err.message);
  return true;
};

describe('createEntry 409: the stored entry must carry the request verifier (hashedrekord v0.0.2)', () => {
  it('refuses an entry naming another public key for the same digest and signature', async () => {
    const c = client(hashedRekordBody(publicKey(OTHER)));
    await assert.rejects(c.createEntry(hashedRekordRequest(publicKey(MINE))), wrongDuplicate);
  });

  it('refuses an entry with the same bytes as a certificate where the request gave a key', async () => {
    const c = client(hashedRekordBody(certificate(MINE)));
    await assert.rejects(c.createEntry(hashedRekordRequest(publicKey(MINE))), wrongDuplicate);
  });

  it('refuses an entry naming another certificate', async () => {
    const c = client(hashedRekordBody(certificate(OTHER)));
    await assert.rejects(c.createEntry(hashedRekordRequest(certificate(MINE))), wrongDuplicate);
  });

  it('refuses an entry with other key details', async () => {
    const c = client(hashedRekordBody(publicKey(MINE, 'PKIX_ECDSA_P384_SHA_384')));
    await assert.rejects(c.createEntry(hashedRekordRequest(publicKey(MINE))), wrongDuplicate);
  });

  it('refuses an entry whose key is not padded standard base64, as the log writes it', async () => {
    const c = client(hashedRekordBody(publicKey(MINE.replace(/=+$/, ''))));
    assert.notEqual(MINE.replace(/=+$/, ''), MINE);
    await assert.rejects(c.createEntry(hashedRekordRequest(publicKey(MINE))), wrongDuplicate);
  });

  it('still refuses another digest (as before)', async () => {
    const c = client(hashedRekordBody(publicKey(MINE), b64(Buffer.alloc(32, 3))));
    await assert.rejects(c.createEntry(hashedRekordRequest(publicKey(MINE))), wrongDuplicate);
  });

  it('returns the entry when it is the request, key or certificate', async () => {
    for (const verifier of [publicKey(MINE), certificate(MINE)]) {
      const entry = await client(hashedRekordBody(verifier)).createEntry(hashedRekordRequest(verifier));
      assert.equal(entry.logIndex, 0);
    }
  });

  it('reads the request as protojson does: proto names, URL-safe base64, key details by number', async () => {
    const raw = Buffer.from([0xfb, 0xff, 0xfe, 0x01]);
    const c = client(hashedRekordBody(publicKey(raw.toString('base64'))));
    const entry = await c.createEntry({
      hashed_rekord_request_v0_0_2: {
        digest: DIGEST,
        signature: {
          content: SIG,
          verifier: { key_details: 5, public_key: { raw_bytes: raw.toString('base64url') } },
        },
      },
    });
    assert.equal(entry.logIndex, 0);
  });

  it('append() checks the certificate it sent', async () => {
    const input = {
      digest: Buffer.alloc(32, 1),
      signature: Buffer.alloc(70, 2),
      keyDetails: P256,
      certificateDer: MINE_DER,
    };
    assert.equal((await client(hashedRekordBody(certificate(MINE))).append(input)).logIndex, 0);
    await assert.rejects(client(hashedRekordBody(certificate(OTHER))).append(input), wrongDuplicate);
  });
});

describe('createEntry 409 for a DSSE v0.0.2 request', () => {
  const payload = Buffer.from('{"_type":"https://in-toto.io/Statement/v1"}');
  const sigA = b64('SIGNATURE-A');
  const sigB = b64('SIGNATURE-B');
  const request = (verifiers: Verifier[]) => ({
    dsseRequestV002: {
      envelope: {
        payload: b64(payload),
        payloadType: 'application/vnd.in-toto+json',
        signatures: [
          { sig: sigA, keyid: '' },
          { sig: sigB, keyid: '' },
        ],
      },
      verifiers,
    },
  });
  const body = (signatures: Array<[string, Verifier]>, hashed = payload) =>
    Buffer.from(
      JSON.stringify({
        apiVersion: '0.0.2',
        kind: 'dsse',
        spec: {
          dsseV002: {
            payloadHash: {
              algorithm: 'SHA2_256',
              digest: createHash('sha256').update(hashed).digest('base64'),
            },
            signatures: signatures.map(([content, verifier]) => ({ content, verifier })),
          },
        },
      }),
    );
  const keyB = b64('KEY-B');

  it('returns the entry holding each envelope signature with a request verifier, in any order', async () => {
    const c = client(
      body([
        [sigB, publicKey(keyB)],
        [sigA, publicKey(MINE)],
      ]),
    );
    assert.equal((await c.createEntry(request([publicKey(MINE), publicKey(keyB)]))).logIndex, 0);
  });

  it('refuses an entry pairing a signature with a verifier the request did not give', async () => {
    const c = client(
      body([
        [sigA, publicKey(MINE)],
        [sigB, publicKey(OTHER)],
      ]),
    );
    await assert.rejects(c.createEntry(request([publicKey(MINE), publicKey(keyB)])), wrongDuplicate);
  });

  it('refuses another payload, a missing or repeated signature', async () => {
    const verifiers = [publicKey(MINE), publicKey(keyB)];
    const bodies = [
      body(
        [
          [sigA, publicKey(MINE)],
          [sigB, publicKey(keyB)],
        ],
        Buffer.from('other'),
      ),
      body([[sigA, publicKey(MINE)]]),
      body([
        [sigA, publicKey(MINE)],
        [sigA, publicKey(MINE)],
      ]),
    ];
    for (const b of bodies) await assert.rejects(client(b).createEntry(request(verifiers)), wrongDuplicate);
  });

  it('a hashedrekord entry is no duplicate of a DSSE request, nor the reverse', async () => {
    await assert.rejects(
      client(hashedRekordBody(publicKey(MINE))).createEntry(request([publicKey(MINE)])),
      wrongDuplicate,
    );
    await assert.rejects(
      client(body([[sigA, publicKey(MINE)]])).createEntry(hashedRekordRequest(publicKey(MINE))),
      wrongDuplicate,
    );
  });
});
