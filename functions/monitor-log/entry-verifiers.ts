/**
 * Pulls the keys and certificates out of a log entry body without parsing any certificate: a
 * JSON parse and base64/PEM decoding only. This is the scan's hot path; the full, typed parse
 * (tlog/entries parseEntryBody) runs only for entries that match an owned identity.
 *
 * Paths per kind are those of Rekor v1's type schemas (hashedrekord, rekord, dsse, intoto 0.0.1
 * and 0.0.2, helm, rpm, jar, alpine, cose, tuf, rfc3161) and of Rekor v2's entries
 * (hashedRekordV002, dsseV002, with DER `rawBytes` verifiers). Keys in other encodings (rekord
 * ssh, minisign and pgp, helm and rpm OpenPGP keys, tuf root keys) are rebuilt as canonical SPKI
 * DER, as rekor's own pki Identities() expose them, so they match owned keys like any PEM key.
 */
import { minisignPublicKeySpki } from './minisign-public-key.ts';
import { pgpPublicKeySpkis } from './pgp-public-key.ts';
import { sshPublicKeySpki } from './ssh-public-key.ts';
import { tufRootKeys } from './tuf-root-keys.ts';

export interface ExtractedVerifier {
  type: 'publicKey' | 'certificate';
  der: Buffer;
  /** The signature made with it, when the body keeps one. */
  signature?: Buffer;
}

export type ExtractResult =
  | { ok: true; kind: string; apiVersion: string; verifiers: ExtractedVerifier[] }
  | { ok: false; kind: string | undefined; apiVersion: string | undefined; message: string };

class Unreadable extends Error {}

const get = (o: unknown, ...path: string[]): unknown => {
  let cur = o;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
};

function b64(value: unknown, what: string): Buffer {
  if (typeof value !== 'string' || value === '') throw new Unreadable(`${what} missing`);
  return Buffer.from(value, 'base64');
}

const PEM = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Every key or certificate in PEM text; PGP armour and other formats yield nothing. */
function pemVerifiers(text: string, signature: Buffer | undefined): ExtractedVerifier[] {
  const out: ExtractedVerifier[] = [];
  for (const m of text.matchAll(PEM)) {
    const label = m[1]!;
    const type =
      label === 'CERTIFICATE' ? 'certificate' : label.endsWith('PUBLIC KEY') ? 'publicKey' : undefined;
    if (type === undefined || label.startsWith('PGP')) continue;
    const der = Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64');
    out.push(signature === undefined ? { type, der } : { type, der, signature });
  }
  return out;
}

/** A base64 PEM field that must hold a key or certificate. */
function requiredPem(value: unknown, what: string, signature?: Buffer): ExtractedVerifier[] {
  const found = pemVerifiers(b64(value, what).toString('utf8'), signature);
  if (found.length === 0) throw new Unreadable(`${what} is not a PEM key or certificate`);
  return found;
}

/** A base64 field that may hold PEM; anything else yields nothing. */
function optionalPem(value: unknown, signature?: Buffer): ExtractedVerifier[] {
  if (typeof value !== 'string' || value === '') return [];
  return pemVerifiers(Buffer.from(value, 'base64').toString('utf8'), signature);
}

/** The primary key and every subkey of an OpenPGP key block (armored or binary). */
function pgpVerifiers(content: Buffer, signature: Buffer | undefined): ExtractedVerifier[] {
  return pgpPublicKeySpkis(content).map((der) =>
    signature === undefined ? { type: 'publicKey', der } : { type: 'publicKey', der, signature },
  );
}

/**
 * helm and rpm keys: rekor reads them with pki/pgp and stores OpenPGP armor. A PEM key is still
 * read as before; anything else that is there is an unreadable key.
 */
function pgpOrPemVerifiers(value: unknown): ExtractedVerifier[] {
  if (typeof value !== 'string' || value === '') return [];
  const content = Buffer.from(value, 'base64');
  const pem = pemVerifiers(content.toString('utf8'), undefined);
  return pem.length > 0 ? pem : pgpVerifiers(content, undefined);
}

function optionalSignature(value: unknown): Buffer | undefined {
  return typeof value === 'string' && value !== '' ? Buffer.from(value, 'base64') : undefined;
}

/** Rekor v2 verifier: {publicKey: {rawBytes}} or {x509Certificate: {rawBytes}}, DER in base64. */
function v2Verifier(verifier: unknown, signature: Buffer | undefined): ExtractedVerifier {
  const key = get(verifier, 'publicKey', 'rawBytes');
  const cert = get(verifier, 'x509Certificate', 'rawBytes');
  const base =
    cert !== undefined
      ? { type: 'certificate' as const, der: b64(cert, 'verifier.x509Certificate.rawBytes') }
      : { type: 'publicKey' as const, der: b64(key, 'verifier.publicKey.rawBytes') };
  return signature === undefined ? base : { ...base, signature };
}

function list(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value) || value.length === 0) throw new Unreadable(`${what} missing`);
  return value;
}

/**
 * rekord 0.0.1 keeps the key in the encoding of `signature.format`. A key present in a format
 * read here but unreadable throws: Rekor parsed it on upload, so only a gap in this reader can
 * get here, and that is worth an unparseable-entry alert rather than a silent miss.
 */
function rekordVerifiers(spec: unknown): ExtractedVerifier[] {
  const key = get(spec, 'signature', 'publicKey', 'content');
  const signature = optionalSignature(get(spec, 'signature', 'content'));
  const format = get(spec, 'signature', 'format');
  const foreign = (spkiOf: (text: string) => Buffer, what: string): ExtractedVerifier[] => {
    const der = spkiOf(b64(key, `${what} publicKey.content`).toString('utf8'));
    return [signature === undefined ? { type: 'publicKey', der } : { type: 'publicKey', der, signature }];
  };
  switch (format) {
    case 'ssh':
      return foreign(sshPublicKeySpki, 'ssh');
    case 'minisign':
      return foreign(minisignPublicKeySpki, 'minisign');
    case 'pgp':
      return pgpVerifiers(b64(key, 'pgp publicKey.content'), signature);
    default:
      // x509 (PEM).
      return optionalPem(key, signature);
  }
}

function verifiersOf(kind: string, apiVersion: string, spec: unknown): ExtractedVerifier[] {
  const v2 = get(spec, 'hashedRekordV002') ?? get(spec, 'dsseV002');
  if (v2 !== undefined) {
    if (kind === 'hashedrekord') {
      const sig = get(v2, 'signature');
      return [v2Verifier(get(sig, 'verifier'), b64(get(sig, 'content'), 'signature.content'))];
    }
    return list(get(v2, 'signatures'), 'signatures').map((s) =>
      v2Verifier(get(s, 'verifier'), b64(get(s, 'content'), 'signature.content')),
    );
  }
  switch (kind) {
    case 'hashedrekord': {
      const sig = b64(get(spec, 'signature', 'content'), 'signature.content');
      return requiredPem(get(spec, 'signature', 'publicKey', 'content'), 'publicKey.content', sig);
    }
    case 'rekord':
      return rekordVerifiers(spec);
    case 'jar':
      return optionalPem(
        get(spec, 'signature', 'publicKey', 'content'),
        optionalSignature(get(spec, 'signature', 'content')),
      );
    case 'dsse':
      return list(get(spec, 'signatures'), 'signatures').flatMap((s) =>
        requiredPem(get(s, 'verifier'), 'signatures.verifier', b64(get(s, 'signature'), 'signature')),
      );
    case 'intoto':
      if (apiVersion === '0.0.1') return requiredPem(get(spec, 'publicKey'), 'publicKey');
      return list(get(spec, 'content', 'envelope', 'signatures'), 'envelope.signatures').flatMap((s) =>
        requiredPem(
          get(s, 'publicKey'),
          'envelope.signatures.publicKey',
          // intoto 0.0.2 keeps the envelope's (base64) signature base64-encoded once more.
          Buffer.from(b64(get(s, 'sig'), 'sig').toString('utf8'), 'base64'),
        ),
      );
    case 'helm':
    case 'rpm':
      return pgpOrPemVerifiers(get(spec, 'publicKey', 'content'));
    case 'alpine':
      return optionalPem(get(spec, 'publicKey', 'content'));
    case 'cose':
      return optionalPem(get(spec, 'publicKey'));
    case 'tuf':
      return tufRootKeys(get(spec, 'root', 'content'), get(spec, 'metadata', 'content')).map((k) =>
        k.signature === undefined
          ? { type: 'publicKey', der: k.der }
          : { type: 'publicKey', der: k.der, signature: k.signature },
      );
    case 'rfc3161':
      // Signed by a TSA: no key or identity sigsentry could own.
      return [];
    default:
      throw new Unreadable(`unsupported entry kind ${kind}`);
  }
}

/** Never throws: an entry that cannot be read is a result, to be reported by the caller. */
export function extractVerifiers(body: Buffer): ExtractResult {
  let kind: string | undefined;
  let apiVersion: string | undefined;
  try {
    const json = JSON.parse(body.toString('utf8')) as unknown;
    if (json === null || typeof json !== 'object') throw new Unreadable('body is not an object');
    kind = typeof get(json, 'kind') === 'string' ? (get(json, 'kind') as string) : undefined;
    apiVersion =
      typeof get(json, 'apiVersion') === 'string' ? (get(json, 'apiVersion') as string) : undefined;
    if (kind === undefined) throw new Unreadable('body has no kind');
    const verifiers = verifiersOf(kind, apiVersion ?? '', get(json, 'spec'));
    return { ok: true, kind, apiVersion: apiVersion ?? '', verifiers };
  } catch (err) {
    return { ok: false, kind, apiVersion, message: err instanceof Error ? err.message : String(err) };
  }
}
