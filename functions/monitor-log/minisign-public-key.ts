/**
 * The key of a rekord `minisign` entry (minisign and signify, both Ed25519). Rekor accepts a key
 * file (`untrusted comment:` line, then base64 of "Ed" || 8-byte key id || 32-byte key) or that
 * base64 line alone, and stores as canonical value base64 of the bare 32-byte key (rekor
 * pki/minisign CanonicalValue), so all three forms are read here.
 */
import { ed25519Spki, UnreadableKey } from './raw-key-spki.ts';

const WHAT = 'minisign public key';

export function minisignPublicKeySpki(text: string): Buffer {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('untrusted comment:'));
  if (lines.length !== 1) throw new UnreadableKey(`${WHAT}: expected one base64 key line`);
  const raw = Buffer.from(lines[0]!, 'base64');
  if (raw.length === 32) return ed25519Spki(raw, WHAT);
  if (raw.length === 42 && raw.subarray(0, 2).toString('latin1') === 'Ed') {
    return ed25519Spki(raw.subarray(10), WHAT);
  }
  throw new UnreadableKey(`${WHAT}: neither a 32-byte key nor "Ed" || key id || key`);
}
