/**
 * Entries whose key is an OpenPGP key block: rekord `pgp`, `helm` and `rpm`. A signature made
 * with an owned key through PGP, by the primary key or any subkey, must match, whether the block
 * is armored (rekor's canonical form) or binary packets; a block that is there but malformed
 * must make the entry unreadable, never yield silently nothing.
 *
 * Packets are written here from the RFCs (RFC 4880 4.2 and 5.5.2, RFC 6637, RFC 9580),
 * independently of the reader under test, around Node-made keys, so the owned KeyObject and the
 * PGP key are one key; keys made by gpg itself are matched too when gpg is installed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto, { type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { extractVerifiers } from '../../../functions/monitor-log/entry-verifiers.ts';
import { b64, matches, monitorAlerts, owned, pemOf, rekordBody, unreadable } from './key-entry-checks.ts';

const ARMORED_SIGNATURE = '-----BEGIN PGP SIGNATURE-----\n\niQ==\n-----END PGP SIGNATURE-----\n';

const rekord = (key: string | Buffer, format = 'pgp'): Buffer => rekordBody(format, ARMORED_SIGNATURE, key);
const helm = (key: string | Buffer): Buffer =>
  Buffer.from(
    JSON.stringify({
      apiVersion: '0.0.1',
      kind: 'helm',
      spec: { publicKey: { content: b64(key) }, chart: { provenance: { signature: { content: b64('x') } } } },
    }),
  );
const rpm = (key: string | Buffer): Buffer =>
  Buffer.from(
    JSON.stringify({
      apiVersion: '0.0.1',
      kind: 'rpm',
      spec: { publicKey: { content: b64(key) }, package: { hash: { algorithm: 'sha256', value: '00' } } },
    }),
  );

function verifiersOf(body: Buffer): Buffer[] {
  const extracted = extractVerifiers(body);
  assert.ok(extracted.ok, JSON.stringify(extracted));
  return extracted.verifiers.map((v) => v.der);
}

// --- OpenPGP writing, from the RFCs ---

/** RFC 4880 3.2: bit count of the integer without leading zeros, then its octets. */
function mpi(value: Buffer): Buffer {
  let i = 0;
  while (i < value.length && value[i] === 0) i++;
  const v = value.subarray(i);
  const bits = v.length === 0 ? 0 : (v.length - 1) * 8 + (32 - Math.clz32(v[0]!));
  const head = Buffer.alloc(2);
  head.writeUInt16BE(bits);
  return Buffer.concat([head, v]);
}
const oid = (hex: string): Buffer => Buffer.concat([Buffer.from([hex.length / 2]), Buffer.from(hex, 'hex')]);

type LengthForm = 'one' | 'two' | 'five';
/** RFC 4880 4.2.2: new-format header with the given length encoding. */
function packet(tag: number, body: Buffer, form?: LengthForm): Buffer {
  const n = body.length;
  const f = form ?? (n < 192 ? 'one' : n < 8384 ? 'two' : 'five');
  let length: Buffer;
  if (f === 'one') {
    assert.ok(n < 192);
    length = Buffer.from([n]);
  } else if (f === 'two') {
    assert.ok(n >= 192 && n < 8384);
    length = Buffer.from([((n - 192) >> 8) + 192, (n - 192) & 0xff]);
  } else {
    length = Buffer.alloc(5);
    length[0] = 255;
    length.writeUInt32BE(n, 1);
  }
  return Buffer.concat([Buffer.from([0xc0 | tag]), length, body]);
}
/** RFC 4880 4.2.1: old-format header; length type 0, 1, 2 (1, 2, 4 octets) or 3 (indeterminate). */
function oldPacket(tag: number, body: Buffer, lengthType: 0 | 1 | 2 | 3): Buffer {
  const size = lengthType === 3 ? 0 : 1 << lengthType;
  const head = Buffer.alloc(1 + size);
  head[0] = 0x80 | (tag << 2) | lengthType;
  if (size > 0) head.writeUIntBE(body.length, 1, size);
  return Buffer.concat([head, body]);
}

interface KeyMaterial {
  algorithm: number;
  material: Buffer;
}
const CREATED = Buffer.from([0x65, 0, 0, 0]);
/** RFC 4880 5.5.2 (v4) and RFC 9580 5.5.2.3 (v6: a four-octet key material length). */
function keyBody({ algorithm, material }: KeyMaterial, version: 4 | 5 | 6 = 4): Buffer {
  if (version === 4) return Buffer.concat([Buffer.from([4]), CREATED, Buffer.from([algorithm]), material]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(material.length);
  return Buffer.concat([Buffer.from([version]), CREATED, Buffer.from([algorithm]), length, material]);
}

const jwkBytes = (key: KeyObject, field: 'x' | 'y' | 'n' | 'e'): Buffer =>
  Buffer.from(key.export({ format: 'jwk' })[field]!, 'base64url');
const CURVE_OIDS: Record<string, string> = {
  'P-256': '2a8648ce3d030107',
  'P-384': '2b81040022',
  'P-521': '2b81040023',
};

/** A DER TLV's content and the offset after it (short and long lengths). */
function derRead(der: Buffer, offset: number): { content: Buffer; next: number } {
  let length = der[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const size = length & 0x7f;
    length = der.readUIntBE(start, size);
    start += size;
  }
  return { content: der.subarray(start, start + length), next: start + length };
}
const derSequence = (der: Buffer): Buffer[] => {
  const out: Buffer[] = [];
  for (let o = 0; o < der.length; ) {
    const { content, next } = derRead(der, o);
    out.push(content);
    o = next;
  }
  return out;
};

/** The OpenPGP key material of a Node public key (RFC 9580 5.5.5). */
function pgpMaterial(key: KeyObject, eddsa: 'legacy' | 'v6' = 'legacy'): KeyMaterial {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return { algorithm: 1, material: Buffer.concat([mpi(jwkBytes(key, 'n')), mpi(jwkBytes(key, 'e'))]) };
    case 'ec': {
      const curve = key.export({ format: 'jwk' }).crv!;
      const point = Buffer.concat([Buffer.from([4]), jwkBytes(key, 'x'), jwkBytes(key, 'y')]);
      return { algorithm: 19, material: Buffer.concat([oid(CURVE_OIDS[curve]!), mpi(point)]) };
    }
    case 'ed25519': {
      const raw = jwkBytes(key, 'x');
      if (eddsa === 'v6') return { algorithm: 27, material: raw };
      const point = Buffer.concat([Buffer.from([0x40]), raw]);
      return { algorithm: 22, material: Buffer.concat([oid('2b06010401da470f01'), mpi(point)]) };
    }
    case 'dsa': {
      // SPKI: SEQUENCE { SEQUENCE { OID, SEQUENCE { p, q, g } }, BIT STRING { INTEGER y } }
      const [algorithm, bits] = derSequence(derRead(key.export({ type: 'spki', format: 'der' }), 0).content);
      const [, params] = derSequence(algorithm!);
      const [p, q, g] = derSequence(params!);
      const y = derRead(bits!.subarray(1), 0).content;
      return { algorithm: 17, material: Buffer.concat([p!, q!, g!, y].map(mpi)) };
    }
    default:
      throw new Error(`no PGP material for ${key.asymmetricKeyType}`);
  }
}

const userId = packet(13, Buffer.from('Ops <ops@example.com>'));
/** Not a real signature: the reader must skip signature packets whatever they hold. */
const signaturePacket = packet(2, Buffer.concat([Buffer.from([4, 0x13, 19, 8]), crypto.randomBytes(40)]));

/** A transferable public key: primary key, user ID, self-signature, then each subkey and binding. */
function keyBlock(primary: KeyMaterial, subkeys: KeyMaterial[] = [], version: 4 | 5 | 6 = 4): Buffer {
  return Buffer.concat([
    packet(6, keyBody(primary, version)),
    userId,
    signaturePacket,
    ...subkeys.flatMap((s) => [packet(14, keyBody(s, version)), signaturePacket]),
  ]);
}

const CRC24_INIT = 0xb704ce;
function crc24(data: Buffer): number {
  let crc = CRC24_INIT;
  for (const byte of data) {
    crc ^= byte << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return crc & 0xffffff;
}

interface ArmorOptions {
  crc?: boolean;
  headers?: string[];
  eol?: string;
  type?: string;
}
/** RFC 4880 6.2: BEGIN line, headers, blank line, base64 in 64-column lines, "=" CRC-24, END line. */
function armor(
  data: Buffer,
  { crc = true, headers = [], eol = '\n', type = 'PGP PUBLIC KEY BLOCK' }: ArmorOptions = {},
) {
  const body = data.toString('base64').match(/.{1,64}/g) ?? [];
  const sum = Buffer.alloc(3);
  sum.writeUIntBE(crc24(data), 0, 3);
  const lines = [`-----BEGIN ${type}-----`, ...headers, '', ...body];
  if (crc) lines.push(`=${sum.toString('base64')}`);
  lines.push(`-----END ${type}-----`, '');
  return lines.join(eol);
}

const p256 = () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
const ed25519 = () => crypto.generateKeyPairSync('ed25519').publicKey;

describe('rekord pgp, helm and rpm entries (hand-built packets around Node keys)', () => {
  const keys: Record<string, KeyObject> = {
    'ECDSA P-256': p256(),
    'ECDSA P-384': crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey,
    'ECDSA P-521': crypto.generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey,
    'EdDSA Ed25519': ed25519(),
    'RSA 2048': crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey,
    'RSA 4096': crypto.generateKeyPairSync('rsa', { modulusLength: 4096 }).publicKey,
    DSA: crypto.generateKeyPairSync('dsa', { modulusLength: 1024, divisorLength: 160 }).publicKey,
  };
  const other = p256();

  for (const [name, key] of Object.entries(keys)) {
    it(`${name}: a v4 primary key matches the owned key, armored or binary, and no other key`, async () => {
      const block = keyBlock(pgpMaterial(key));
      for (const body of [rekord(armor(block)), rekord(block), helm(armor(block)), rpm(armor(block))]) {
        assert.equal(matches(body, await owned(key)), 1);
        assert.equal(matches(body, await owned(other)), 0);
      }
    });
  }

  it('v6 keys (RFC 9580): Ed25519 (27), ECDSA and RSA, primary and subkeys', async () => {
    const [ed, ec, rsa] = [keys['EdDSA Ed25519']!, keys['ECDSA P-384']!, keys['RSA 2048']!];
    const block = keyBlock(pgpMaterial(ed, 'v6'), [pgpMaterial(ec), pgpMaterial(rsa)], 6);
    for (const key of [ed, ec, rsa]) assert.equal(matches(rekord(armor(block)), await owned(key)), 1);
    assert.equal(matches(rekord(armor(block)), await owned(other)), 0);
    // Ed25519 (27) in a v4 packet, and v5 (LibrePGP) packets, which are laid out as v6.
    assert.equal(matches(rekord(keyBlock(pgpMaterial(ed, 'v6'))), await owned(ed)), 1);
    assert.equal(matches(rekord(keyBlock(pgpMaterial(ec), [], 5)), await owned(ec)), 1);
  });

  it('a signature by a subkey matches the owned subkey alone', async () => {
    const sub = ed25519();
    const block = keyBlock(pgpMaterial(other), [pgpMaterial(keys['RSA 2048']!), pgpMaterial(sub)]);
    assert.equal(verifiersOf(rekord(armor(block))).length, 3);
    assert.equal(matches(rekord(armor(block)), await owned(sub)), 1);
    assert.equal(matches(helm(armor(block)), await owned(sub)), 1);
    assert.equal(matches(rpm(block), await owned(sub)), 1);
  });

  it('keys of algorithms no KMS key can be yield nothing; the owned key beside them still matches', async () => {
    const key = keys['ECDSA P-256']!;
    const point = (n: number) => mpi(Buffer.concat([Buffer.from([4]), crypto.randomBytes(n)]));
    const skipped: KeyMaterial[] = [
      // ECDH on Curve25519 with its KDF parameters (RFC 6637 9)
      {
        algorithm: 18,
        material: Buffer.concat([
          oid('2b060104019755010501'),
          mpi(Buffer.concat([Buffer.from([0x40]), crypto.randomBytes(32)])),
          Buffer.from([3, 1, 8, 7]),
        ]),
      },
      { algorithm: 25, material: crypto.randomBytes(32) }, // X25519
      { algorithm: 26, material: crypto.randomBytes(56) }, // X448
      { algorithm: 28, material: crypto.randomBytes(57) }, // Ed448
      {
        algorithm: 16,
        material: Buffer.concat([
          mpi(crypto.randomBytes(128)),
          mpi(Buffer.from([2])),
          mpi(crypto.randomBytes(128)),
        ]),
      }, // ElGamal
      { algorithm: 19, material: Buffer.concat([oid('2b2403030208010107'), point(64)]) }, // brainpoolP256r1
      { algorithm: 19, material: Buffer.concat([oid('2b8104000a'), point(64)]) }, // secp256k1
      { algorithm: 22, material: Buffer.concat([oid('2b6571'), mpi(crypto.randomBytes(57))]) }, // Ed448 legacy
    ];
    const block = keyBlock(pgpMaterial(key), skipped);
    assert.equal(verifiersOf(rekord(armor(block))).length, 1);
    assert.equal(matches(rekord(armor(block)), await owned(key)), 1);
    // A block of such keys only is read, and gives no verifier to match.
    assert.deepEqual(verifiersOf(rekord(keyBlock(skipped[1]!, skipped.slice(2)))), []);
    assert.deepEqual(verifiersOf(helm(armor(keyBlock(skipped[0]!)))), []);
  });

  it('armor with headers, without CRC, with CRLF, and several armored blocks', async () => {
    const key = keys['ECDSA P-256']!;
    const block = keyBlock(pgpMaterial(key));
    const ids = await owned(key);
    for (const text of [
      armor(block, { headers: ['Version: GnuPG v2', 'Comment: ops key'] }),
      armor(block, { crc: false }),
      armor(block, { eol: '\r\n', headers: ['Comment: crlf'] }),
      `leading text\n${armor(block)}trailing text\n`,
      armor(keyBlock(pgpMaterial(other))) + armor(block),
      armor(block, { type: 'PGP PRIVATE KEY BLOCK' }),
    ]) {
      assert.equal(matches(rekord(text), ids), 1, text);
    }
  });

  it('every header form and length encoding: old format (1, 2, 4 octets, indeterminate) and new (1, 2, 5)', async () => {
    const key = keys['RSA 2048']!; // a 2048-bit key packet needs a two- or five-octet length
    const sub = keys['ECDSA P-256']!;
    const primary = keyBody(pgpMaterial(key));
    const subkey = keyBody(pgpMaterial(sub));
    const uid = Buffer.from('Ops <ops@example.com>');
    const blocks = [
      Buffer.concat([oldPacket(6, primary, 1), oldPacket(13, uid, 0), oldPacket(14, subkey, 0)]),
      Buffer.concat([oldPacket(6, primary, 2), oldPacket(13, uid, 2), oldPacket(14, subkey, 3)]),
      Buffer.concat([packet(6, primary, 'five'), packet(13, uid, 'five'), packet(14, subkey, 'one')]),
      Buffer.concat([packet(6, primary, 'two'), packet(13, uid, 'one'), packet(14, subkey, 'five')]),
    ];
    for (const block of blocks) {
      for (const body of [rekord(block), rekord(armor(block))]) {
        assert.equal(matches(body, await owned(key)), 1);
        assert.equal(matches(body, await owned(sub)), 1);
      }
    }
  });

  it('user attribute, trust, marker and partial-length non-key packets are skipped', async () => {
    const key = ed25519();
    // A user attribute in partial body lengths: a 512-octet chunk, then a final 3-octet one.
    const attribute = Buffer.concat([
      Buffer.from([0xc0 | 17, 224 + 9]),
      Buffer.alloc(512),
      Buffer.from([3, 1, 2, 3]),
    ]);
    const block = Buffer.concat([
      packet(10, Buffer.from('PGP')), // marker
      packet(6, keyBody(pgpMaterial(key))),
      packet(12, Buffer.from([0, 0])), // trust
      attribute,
      userId,
      signaturePacket,
    ]);
    assert.equal(matches(rekord(armor(block)), await owned(key)), 1);
  });

  it('PGP is read only where rekor keeps PGP keys: not in hashedrekord, dsse or intoto', async () => {
    const key = keys['ECDSA P-256']!;
    const text = armor(keyBlock(pgpMaterial(key)));
    assert.equal(matches(rekord(text), await owned(key)), 1);
    const sig = b64('sig');
    const hashedrekord = {
      kind: 'hashedrekord',
      apiVersion: '0.0.1',
      spec: { signature: { content: sig, publicKey: { content: b64(text) } }, data: {} },
    };
    const dsse = {
      kind: 'dsse',
      apiVersion: '0.0.1',
      spec: { signatures: [{ signature: sig, verifier: b64(text) }] },
    };
    const intoto = { kind: 'intoto', apiVersion: '0.0.1', spec: { publicKey: b64(text) } };
    for (const entry of [hashedrekord, dsse, intoto]) {
      unreadable(Buffer.from(JSON.stringify(entry)), /is not a PEM key or certificate/);
    }
    // A PEM key in a helm or rpm entry is read as before.
    assert.equal(matches(helm(pemOf(key)), await owned(key)), 1);
    assert.equal(matches(rpm(pemOf(key)), await owned(key)), 1);
  });

  it('a rogue PGP signature by an owned subkey raises rogue-signature', async () => {
    const sub = keys['RSA 4096']!;
    const alerts = await monitorAlerts(
      [rekord(armor(keyBlock(pgpMaterial(other), [pgpMaterial(sub)])))],
      await owned(sub),
    );
    assert.equal(alerts.ofKind('rogue-signature').length, 1);
    assert.equal(alerts.ofKind('rogue-signature')[0]?.evidence.entryKind, 'rekord');
  });

  it('a key block that is there but malformed makes the entry unreadable', () => {
    const material = pgpMaterial(keys['RSA 2048']!);
    const good = keyBlock(material);
    const keyPacket = packet(6, keyBody(material));
    // truncated: the stream ends inside the key packet
    unreadable(rekord(good.subarray(0, 100)), /packet \(tag 6\) is truncated/);
    unreadable(rekord(armor(keyPacket.subarray(0, keyPacket.length - 1))), /truncated/);
    unreadable(rekord(Buffer.from([0xc6, 0xff, 0, 0])), /packet header is truncated/);
    // bad MPI length: the modulus claims 4096 bits in a 2048-bit packet
    const longMpi = Buffer.from(material.material);
    longMpi.writeUInt16BE(4096, 0);
    unreadable(rekord(packet(6, keyBody({ algorithm: 1, material: longMpi }))), /RSA modulus runs past/);
    // ECDSA point off the curve, EdDSA point without its 0x40 prefix, RSA key without exponent
    const offCurve = {
      algorithm: 19,
      material: Buffer.concat([
        oid(CURVE_OIDS['P-256']!),
        mpi(Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)])),
      ]),
    };
    unreadable(rekord(keyBlock(offCurve)), /pgp public key/);
    const noPrefix = {
      algorithm: 22,
      material: Buffer.concat([oid('2b06010401da470f01'), mpi(Buffer.alloc(32, 7))]),
    };
    unreadable(rekord(keyBlock(noPrefix)), /EdDSA point is not 0x40/);
    unreadable(
      rekord(keyBlock({ algorithm: 1, material: mpi(jwkBytes(keys['RSA 2048']!, 'n')) })),
      /RSA exponent length runs past/,
    );
    // v6 key material whose declared length does not fit the key
    const v6 = keyBody(pgpMaterial(ed25519(), 'v6'), 6);
    v6.writeUInt32BE(33, 6);
    unreadable(rekord(packet(6, Buffer.concat([v6, Buffer.from([0])]))), /key material is longer/);
    // a partial body length on a key packet, an old v3 key, a reserved tag, not a packet at all
    unreadable(
      rekord(Buffer.concat([Buffer.from([0xc6, 224 + 9]), Buffer.alloc(512)])),
      /partial body length in a key packet/,
    );
    unreadable(rekord(packet(6, Buffer.from([3, 0, 0, 0, 0, 0, 0, 1]))), /version 3 key packets/);
    unreadable(rekord(Buffer.from([0x80, 1, 0])), /reserved packet tag 0/);
    // a block with no key in it
    unreadable(rekord(armor(Buffer.concat([userId, signaturePacket]))), /no key packet/);
  });

  it('armor that is malformed makes the entry unreadable', () => {
    const block = keyBlock(pgpMaterial(keys['ECDSA P-256']!));
    const text = armor(block);
    const lines = text.split('\n');
    // bad base64 in the body
    const badBase64 = [...lines];
    badBase64[3] = `${badBase64[3]!.slice(0, 10)}*${badBase64[3]!.slice(11)}`;
    unreadable(rekord(badBase64.join('\n')), /armor body is not base64/);
    unreadable(rekord(text.replace(/\n=/, '\n===')), /armor/);
    // the CRC does not match: one body character changed
    const flipped = [...lines];
    flipped[3] = `${flipped[3]!.slice(0, 10)}${flipped[3]![10] === 'A' ? 'B' : 'A'}${flipped[3]!.slice(11)}`;
    unreadable(rekord(flipped.join('\n')), /armor checksum does not match/);
    // no END line, a mismatched END line, a header that is not "Key: Value", no blank line
    unreadable(rekord(text.replace(/-----END PGP PUBLIC KEY BLOCK-----\n$/, '')), /has no END line/);
    unreadable(rekord(text.replace('END PGP PUBLIC KEY BLOCK', 'END PGP SIGNATURE')), /ends as/);
    unreadable(rekord(armor(block, { headers: ['not a header'] })), /armor header/);
    unreadable(rekord(lines.filter((l, i) => !(i === 1 && l === '')).join('\n')), /armor header/);
    // a signature where the key should be, text that is no key at all
    unreadable(rekord(ARMORED_SIGNATURE), /armor of a PGP SIGNATURE, not a key block/);
    unreadable(rekord('not a key'), /neither binary packets nor an armored key block/);
    unreadable(helm('not a key'), /neither binary packets nor an armored key block/);
    unreadable(rpm(armor(Buffer.alloc(0))), /no key packet/);
  });

  it('hostile input is bounded: too many packets or octets make the entry unreadable, quickly', () => {
    const start = performance.now();
    const primary = packet(6, keyBody(pgpMaterial(ed25519(), 'v6')));
    const trust = packet(12, Buffer.alloc(0));
    unreadable(rekord(Buffer.concat([primary, ...Array(10_000).fill(trust)])), /more than 10000 packets/);
    const keysOnly = Array.from({ length: 257 }, () =>
      packet(14, keyBody({ algorithm: 25, material: Buffer.alloc(32) })),
    );
    unreadable(
      rekord(Buffer.concat([packet(6, keyBody({ algorithm: 25, material: Buffer.alloc(32) })), ...keysOnly])),
      /more than 256 keys/,
    );
    unreadable(rekord(Buffer.concat([packet(6, Buffer.alloc(5 * 1024 * 1024), 'five')])), /larger than/);
    assert.ok(performance.now() - start < 5000);
  });
});

// The gpg cases need GnuPG; `gpg --version` fails only when it is missing.
let hasGpg = true;
try {
  execFileSync('gpg', ['--version'], { stdio: 'ignore' });
} catch {
  hasGpg = false;
}

describe('keys made by gpg', { skip: !hasGpg }, () => {
  const home = hasGpg ? mkdtempSync(path.join(tmpdir(), 'sigsentry-gpg-')) : '';
  const gpg = (...args: string[]): Buffer =>
    execFileSync('gpg', ['--homedir', home, '--batch', '--quiet', '--passphrase', '', ...args], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  after(() => {
    if (!hasGpg) return;
    try {
      execFileSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], { stdio: 'ignore' });
    } catch {
      // no agent to stop
    }
    rmSync(home, { recursive: true, force: true });
  });

  /** Fingerprints of every key and subkey gpg holds, with their capabilities (`s`, `e`, ...). */
  const fingerprints = (): Array<{ fingerprint: string; usage: string }> => {
    const out: Array<{ fingerprint: string; usage: string }> = [];
    let usage = '';
    for (const fields of gpg('--with-colons', '--list-keys')
      .toString()
      .split('\n')
      .map((l) => l.split(':'))) {
      if (fields[0] === 'pub' || fields[0] === 'sub') usage = fields[11]!;
      if (fields[0] === 'fpr') out.push({ fingerprint: fields[9]!, usage });
    }
    return out;
  };

  /** The key gpg holds under a fingerprint, as a Node KeyObject, by way of its OpenSSH export. */
  function nodeKey(fingerprint: string): KeyObject {
    const line = gpg('--export-ssh-key', `${fingerprint}!`).toString().trim();
    const [type, blob] = line.split(' ') as [string, string];
    const wire = Buffer.from(blob, 'base64');
    if (type === 'ssh-ed25519') {
      return crypto.createPublicKey({
        key: { kty: 'OKP', crv: 'Ed25519', x: wire.subarray(-32).toString('base64url') },
        format: 'jwk',
      });
    }
    const file = path.join(home, `${fingerprint}.pub`);
    writeFileSync(file, `${line}\n`);
    return crypto.createPublicKey(execFileSync('ssh-keygen', ['-e', '-m', 'PKCS8', '-f', file]).toString());
  }

  it('every key of gpg keys (nistp256 with ed25519 and rsa2048 subkeys; nistp521) matches, armored and binary', async () => {
    gpg('--quick-gen-key', 'Ops <ops@example.com>', 'nistp256', 'sign', 'never');
    const primary = fingerprints()[0]!.fingerprint;
    for (const algo of ['ed25519', 'rsa2048']) gpg('--quick-add-key', primary, algo, 'sign', 'never');
    gpg('--quick-add-key', primary, 'cv25519', 'encr', 'never'); // ECDH: no KMS key, yields nothing
    gpg('--quick-gen-key', 'Release <release@example.com>', 'nistp521', 'sign', 'never');
    const all = fingerprints();
    assert.equal(all.length, 5);
    const signing = all.filter((k) => !k.usage.includes('e')).map((k) => k.fingerprint);
    assert.equal(signing.length, 4);
    // Both keys in one export: one armored block, or one binary stream, of two transferable keys.
    const armored = gpg('--armor', '--export').toString();
    const binary = gpg('--export');
    assert.ok(armored.startsWith('-----BEGIN PGP PUBLIC KEY BLOCK-----'));
    assert.equal(binary[0]! & 0xc0, 0x80, 'gpg writes old-format packets');
    for (const body of [rekord(armored), rekord(binary), helm(armored), rpm(binary)]) {
      assert.equal(verifiersOf(body).length, 4);
      for (const fingerprint of signing) {
        assert.equal(matches(body, await owned(nodeKey(fingerprint))), 1, fingerprint);
      }
      assert.equal(matches(body, await owned(p256())), 0);
    }
    // The subkey alone matches a block where it is the only owned key.
    const subkeyOnly = gpg('--armor', '--export', primary).toString();
    const ed25519Subkey = all.find(
      (k) => k.usage === 's' && nodeKey(k.fingerprint).asymmetricKeyType === 'ed25519',
    );
    assert.equal(matches(rekord(subkeyOnly), await owned(nodeKey(ed25519Subkey!.fingerprint))), 1);
  });
});
