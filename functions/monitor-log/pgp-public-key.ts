/**
 * The keys of an OpenPGP public key block: rekord `pgp` entries, and `helm` and `rpm` entries
 * (whose keys rekor reads with pki/pgp too). Rekor accepts an ASCII-armored block (one or more
 * `PGP PUBLIC KEY BLOCK` or `PGP PRIVATE KEY BLOCK` armors) or binary packets, and stores as
 * canonical value the armored (with CRC) re-serialization of the keys golang.org/x/crypto/openpgp
 * could read; rekor's pgp Identities() are the primary key and every subkey, as PKIX keys. So this
 * reader yields the SPKI DER of the primary key and every subkey, in both forms.
 *
 * Packets per RFC 4880 4.2 (old and new headers, every length encoding; a partial body length is
 * refused on a key packet and skipped on others) and RFC 9580. Key packets (public key 6, public
 * subkey 14, and the public part of secret key 5 and secret subkey 7) of version 4, and of the
 * length-prefixed versions 5 (LibrePGP) and 6 (RFC 9580); version 2/3 keys are refused. Read are
 * the algorithms a Cloud KMS key can be: RSA (1, 2, 3), DSA (17), ECDSA (19) on P-256/384/521,
 * EdDSA (22, legacy) and Ed25519 (27). ElGamal, ECDH, X25519, X448, Ed448, other curves and
 * unknown algorithms cannot be a KMS key and yield nothing. A block that is present but malformed
 * throws UnreadableKey, as do inputs past the size and packet bounds below.
 */
import { dsaSpki, ecPointSpki, ed25519Spki, type NistCurve, rsaSpki, UnreadableKey } from './raw-key-spki.ts';

const WHAT = 'pgp public key';

/** Bounds on hostile input: the whole parse is linear in the input and at most this large. */
const MAX_BYTES = 4 * 1024 * 1024;
const MAX_PACKETS = 10_000;
const MAX_KEYS = 256;

const unreadable = (why: string): UnreadableKey => new UnreadableKey(`${WHAT}: ${why}`);

// --- ASCII armor (RFC 4880 6, RFC 9580 6) ---

const CRC24_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 16;
    for (let k = 0; k < 8; k++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
    table[i] = crc & 0xffffff;
  }
  return table;
})();

function crc24(data: Buffer): number {
  let crc = 0xb704ce;
  for (const byte of data) crc = ((crc << 8) ^ CRC24_TABLE[((crc >> 16) ^ byte) & 0xff]!) & 0xffffff;
  return crc;
}

const KEY_ARMORS = new Set(['PGP PUBLIC KEY BLOCK', 'PGP PRIVATE KEY BLOCK']);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The packet bytes of every armored block in the text. As x/crypto's armor.Decode: text around
 * the blocks is ignored, headers are `Key: Value` lines ended by a blank line, and a `=XXXX`
 * CRC-24 line is optional but checked when there.
 */
function dearmor(text: string): Buffer[] {
  const lines = text.split('\n').map((l) => l.trim());
  const blocks: Buffer[] = [];
  let i = 0;
  while (i < lines.length) {
    const begin = /^-----BEGIN (.+)-----$/.exec(lines[i++]!);
    if (begin === null) continue;
    const type = begin[1]!;
    if (!KEY_ARMORS.has(type)) throw unreadable(`armor of a ${type}, not a key block`);
    for (; ; i++) {
      if (i >= lines.length) throw unreadable('armor ends in its headers');
      if (lines[i] === '') break;
      if (!/^[^\s:]+: /.test(lines[i]!)) throw unreadable('armor header is not "Key: Value"');
    }
    i++;
    let body = '';
    let checksum: string | undefined;
    let ended = false;
    for (; i < lines.length; i++) {
      const line = lines[i]!;
      if (line.startsWith('-----END ')) {
        if (line !== `-----END ${type}-----`) throw unreadable(`armor of ${type} ends as ${line}`);
        ended = true;
        i++;
        break;
      }
      if (line === '') continue;
      if (checksum !== undefined) throw unreadable('armor goes on after its checksum');
      if (line.length === 5 && line.startsWith('=')) checksum = line.slice(1);
      else body += line;
    }
    if (!ended) throw unreadable(`armor of ${type} has no END line`);
    if (body.length % 4 !== 0 || !BASE64.test(body)) throw unreadable('armor body is not base64');
    const data = Buffer.from(body, 'base64');
    if (checksum !== undefined) {
      const expected = Buffer.from(checksum, 'base64');
      if (!BASE64.test(checksum) || expected.length !== 3) throw unreadable('armor checksum is not base64');
      if (expected.readUIntBE(0, 3) !== crc24(data)) throw unreadable('armor checksum does not match');
    }
    blocks.push(data);
  }
  if (blocks.length === 0) throw unreadable('neither binary packets nor an armored key block');
  return blocks;
}

// --- packets (RFC 4880 4.2, RFC 9580 4.2) ---

/** Reads big-endian fields off a packet body; running past its end is a malformed key. */
class FieldReader {
  private offset = 0;
  private readonly data: Buffer;

  constructor(data: Buffer) {
    this.data = data;
  }

  get remaining(): number {
    return this.data.length - this.offset;
  }

  take(n: number, what: string): Buffer {
    if (n > this.remaining) throw unreadable(`${what} runs past the end of its packet`);
    this.offset += n;
    return this.data.subarray(this.offset - n, this.offset);
  }

  byte(what: string): number {
    return this.take(1, what)[0]!;
  }

  uint32(what: string): number {
    return this.take(4, what).readUInt32BE(0);
  }

  /** Multiprecision integer: a two-octet bit count, then that many bits, big-endian. */
  mpi(what: string): Buffer {
    const bits = this.take(2, `${what} length`).readUInt16BE(0);
    return this.take((bits + 7) >> 3, what);
  }

  /** Curve OID: a one-octet length (0 and 0xff reserved), then the OID's DER content. */
  oid(): string {
    const length = this.byte('curve OID length');
    if (length === 0 || length === 0xff) throw unreadable(`reserved curve OID length ${length}`);
    return this.take(length, 'curve OID').toString('hex');
  }
}

const KEY_TAGS = new Set([5, 6, 7, 14]);

interface Packet {
  tag: number;
  body: Buffer;
}

/** Body length of a new-format header at `offset` (RFC 4880 4.2.2). */
function newFormatLength(data: Buffer, offset: number): { length: number; next: number; partial: boolean } {
  const first = data[offset];
  if (first === undefined) throw unreadable('packet header is truncated');
  if (first < 192) return { length: first, next: offset + 1, partial: false };
  if (first < 224) {
    const second = data[offset + 1];
    if (second === undefined) throw unreadable('packet header is truncated');
    return { length: ((first - 192) << 8) + second + 192, next: offset + 2, partial: false };
  }
  if (first === 255) {
    if (offset + 5 > data.length) throw unreadable('packet header is truncated');
    return { length: data.readUInt32BE(offset + 1), next: offset + 5, partial: false };
  }
  return { length: 1 << (first & 0x1f), next: offset + 1, partial: true };
}

/** Every packet of a stream; a non-key packet with partial body lengths is skipped whole. */
function readPackets(data: Buffer, budget: { packets: number }): Packet[] {
  const out: Packet[] = [];
  let offset = 0;
  while (offset < data.length) {
    if (--budget.packets < 0) throw unreadable(`more than ${MAX_PACKETS} packets`);
    const header = data[offset]!;
    if ((header & 0x80) === 0) throw unreadable(`octet ${offset} is not a packet header`);
    let tag: number;
    let length: number;
    if (header & 0x40) {
      tag = header & 0x3f;
      let { length: chunk, next, partial } = newFormatLength(data, offset + 1);
      if (partial && KEY_TAGS.has(tag)) throw unreadable(`partial body length in a key packet (tag ${tag})`);
      while (partial) {
        if (next + chunk > data.length) throw unreadable(`packet (tag ${tag}) is truncated`);
        if (--budget.packets < 0) throw unreadable(`more than ${MAX_PACKETS} packets`);
        ({ length: chunk, next, partial } = newFormatLength(data, next + chunk));
      }
      offset = next;
      length = chunk;
    } else {
      tag = (header >> 2) & 0x0f;
      const lengthType = header & 0x03;
      if (lengthType === 3) {
        // Indeterminate length: the packet runs to the end of the stream.
        offset += 1;
        length = data.length - offset;
      } else {
        const size = 1 << lengthType; // 1, 2 or 4 octets
        if (offset + 1 + size > data.length) throw unreadable('packet header is truncated');
        length = data.readUIntBE(offset + 1, size);
        offset += 1 + size;
      }
    }
    if (tag === 0) throw unreadable('reserved packet tag 0');
    if (offset + length > data.length) throw unreadable(`packet (tag ${tag}) is truncated`);
    out.push({ tag, body: data.subarray(offset, offset + length) });
    offset += length;
  }
  return out;
}

// --- key material (RFC 4880 5.5.2, RFC 6637 9, RFC 9580 5.5.2 and 5.5.5) ---

const ECDSA_CURVES: Record<string, NistCurve> = {
  '2a8648ce3d030107': 'P-256',
  '2b81040022': 'P-384',
  '2b81040023': 'P-521',
};
const ED25519_LEGACY_OID = '2b06010401da470f01';

/** The SPKI DER of a key packet's key, or undefined for an algorithm no KMS key can be. */
function keyPacketSpki(body: Buffer): Buffer | undefined {
  const packet = new FieldReader(body);
  const version = packet.byte('key version');
  if (version !== 4 && version !== 5 && version !== 6) {
    throw unreadable(`version ${version} key packets are not read`);
  }
  packet.take(4, 'key creation time');
  const algorithm = packet.byte('key algorithm');
  // v5 and v6 give the key material's length; v4 key material runs on (a secret key packet's
  // secret part follows it, so trailing octets are not an error, as in x/crypto).
  const lengthPrefixed = version !== 4;
  const key = lengthPrefixed
    ? new FieldReader(packet.take(packet.uint32('key material length'), 'key material'))
    : packet;
  let spki: Buffer | undefined;
  switch (algorithm) {
    case 1: // RSA, RSA encrypt-only, RSA sign-only
    case 2:
    case 3: {
      const n = key.mpi('RSA modulus');
      spki = rsaSpki(n, key.mpi('RSA exponent'), WHAT);
      break;
    }
    case 17:
      spki = dsaSpki(key.mpi('DSA p'), key.mpi('DSA q'), key.mpi('DSA g'), key.mpi('DSA y'), WHAT);
      break;
    case 19: {
      const curve = ECDSA_CURVES[key.oid()];
      const point = key.mpi('ECDSA point');
      // Brainpool, secp256k1 and other curves: no KMS key.
      spki = curve === undefined ? undefined : ecPointSpki(curve, point, WHAT);
      break;
    }
    case 22: {
      const oid = key.oid();
      const point = key.mpi('EdDSA point');
      if (oid !== ED25519_LEGACY_OID) return undefined; // Ed448 and others: no KMS key
      if (point.length !== 33 || point[0] !== 0x40) throw unreadable('EdDSA point is not 0x40 || 32 octets');
      spki = ed25519Spki(point.subarray(1), WHAT);
      break;
    }
    case 27:
      spki = ed25519Spki(key.take(32, 'Ed25519 key'), WHAT);
      break;
    default:
      // ElGamal (16, 20), ECDH (18), X25519 (25), X448 (26), Ed448 (28), unknown: no KMS key.
      return undefined;
  }
  if (lengthPrefixed && key.remaining !== 0) throw unreadable('key material is longer than its key');
  return spki;
}

/**
 * SPKI DER of the primary key and each subkey of the OpenPGP key block in `content` (armored or
 * binary), deduplicated; empty when every key is of an algorithm no KMS key can be.
 */
export function pgpPublicKeySpkis(content: Buffer): Buffer[] {
  if (content.length === 0) throw unreadable('empty');
  if (content.length > MAX_BYTES) throw unreadable(`larger than ${MAX_BYTES} octets`);
  // A binary stream starts with a packet header (high bit set); armor is text.
  const streams = content[0]! & 0x80 ? [content] : dearmor(content.toString('latin1'));
  const budget = { packets: MAX_PACKETS };
  const found = new Map<string, Buffer>();
  let keyPackets = 0;
  for (const stream of streams) {
    for (const { tag, body } of readPackets(stream, budget)) {
      if (!KEY_TAGS.has(tag)) continue; // user IDs, signatures, user attributes, trust, ...
      if (++keyPackets > MAX_KEYS) throw unreadable(`more than ${MAX_KEYS} keys`);
      const spki = keyPacketSpki(body);
      if (spki !== undefined) found.set(spki.toString('hex'), spki);
    }
  }
  if (keyPackets === 0) throw unreadable('no key packet');
  return [...found.values()];
}
