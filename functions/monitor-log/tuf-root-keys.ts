/**
 * The keys of a `tuf` 0.0.1 entry: every key its root metadata lists (as rekor pki/tuf
 * Identities returns them), each with the manifest's signature by that key when it has one.
 * Rekor stores `root.content` and `metadata.content` as base64 of canonical JSON (a byte slice
 * marshalled into an untyped field); a JSON object, as the schema describes, is read as well.
 * Key values follow go-tuf: PEM SPKI for `rsa`/`ecdsa`/`ecdsa-sha2-nistp256`, hex for
 * `ed25519`, and hex of an uncompressed P-256 point for go-tuf's deprecated ecdsa encoding.
 */
import { ecPointSpki, ed25519Spki, pemSpki, UnreadableKey } from './raw-key-spki.ts';

export interface TufKey {
  der: Buffer;
  /** The manifest's signature by this key, when it has one. */
  signature?: Buffer;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object';

function signedDocument(content: unknown, what: string): Record<string, unknown> {
  let doc: unknown = content;
  if (typeof content === 'string') {
    try {
      doc = JSON.parse(Buffer.from(content, 'base64').toString('utf8'));
    } catch {
      throw new UnreadableKey(`${what} is not base64 JSON`);
    }
  }
  if (!isObject(doc) || !isObject(doc['signed'])) throw new UnreadableKey(`${what} has no signed part`);
  return doc;
}

const HEX = /^(?:[0-9a-fA-F]{2})+$/;

function keySpki(keyId: string, key: unknown): Buffer {
  const what = `tuf root key ${keyId}`;
  const keyType = isObject(key) ? key['keytype'] : undefined;
  const value = isObject(key) && isObject(key['keyval']) ? key['keyval']['public'] : undefined;
  if (typeof value !== 'string' || value === '') throw new UnreadableKey(`${what}: no keyval.public`);
  if (value.includes('-----BEGIN')) return pemSpki(value, what);
  if (!HEX.test(value)) throw new UnreadableKey(`${what}: keyval.public is neither PEM nor hex`);
  const raw = Buffer.from(value, 'hex');
  switch (keyType) {
    case 'ed25519':
      return ed25519Spki(raw, what);
    case 'ecdsa':
    case 'ecdsa-sha2-nistp256':
      return ecPointSpki(raw.length === 97 ? 'P-384' : 'P-256', raw, what);
    default:
      throw new UnreadableKey(`${what}: unsupported keytype ${String(keyType)} with a hex value`);
  }
}

/** Signatures by key id; TUF writes them as hex. */
function signaturesByKeyId(manifest: Record<string, unknown>): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const sigs = manifest['signatures'];
  for (const s of Array.isArray(sigs) ? sigs : []) {
    if (!isObject(s) || typeof s['keyid'] !== 'string' || typeof s['sig'] !== 'string') continue;
    if (HEX.test(s['sig'])) out.set(s['keyid'], Buffer.from(s['sig'], 'hex'));
  }
  return out;
}

export function tufRootKeys(rootContent: unknown, metadataContent: unknown): TufKey[] {
  const root = signedDocument(rootContent, 'root.content');
  const keys = (root['signed'] as Record<string, unknown>)['keys'];
  if (!isObject(keys) || Object.keys(keys).length === 0) throw new UnreadableKey('tuf root lists no keys');
  const signatures = signaturesByKeyId(signedDocument(metadataContent, 'metadata.content'));
  return Object.entries(keys).map(([keyId, key]) => {
    const der = keySpki(keyId, key);
    const signature = signatures.get(keyId);
    return signature === undefined ? { der } : { der, signature };
  });
}
