import { createPublicKey, X509Certificate } from 'node:crypto';
import { errorMessage } from '../../logging/describe.ts';

/** The key or certificate that verifies an entry's signature. */
export type EntryVerifier =
  | { type: 'publicKey'; pem: string; der: Buffer }
  | { type: 'certificate'; der: Buffer }
  | { type: 'other'; format: string; content: Buffer };

export interface EntrySignature {
  signature: Buffer;
  verifier: EntryVerifier;
}

/** Every Rekor entry kind reduced to what monitoring and verification need. */
export interface ParsedEntry {
  kind: 'hashedrekord' | 'dsse' | 'intoto' | 'rekord';
  apiVersion: string;
  /** The signed artifact's digest (for DSSE kinds: the payload's digest). */
  artifactDigest: { algorithm: string; hex: string } | undefined;
  signatures: EntrySignature[];
  /** The first signature's verifier, the one that matters for single-signer entries. */
  verifier: EntryVerifier;
  /**
   * dsse 0.0.1 only (`spec.envelopeHash`): the hash of the envelope as it was sent, which the log
   * keeps instead of the envelope. Absent when the body has none or it is unreadable.
   */
  envelopeHash?: { algorithm: string; hex: string };
}

export interface EntryParseError {
  error: 'unknown-kind' | 'malformed';
  kind: string | undefined;
  apiVersion: string | undefined;
  message: string;
  logIndex: number | undefined;
}

export type EntryParseResult = { ok: true; entry: ParsedEntry } | { ok: false; error: EntryParseError };

class Malformed extends Error {}

const get = (o: unknown, ...path: string[]): unknown => {
  let cur = o;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
};

function mustString(v: unknown, what: string): string {
  if (typeof v !== 'string' || v === '') throw new Malformed(`${what} missing`);
  return v;
}

const fromB64 = (v: unknown, what: string): Buffer => Buffer.from(mustString(v, what), 'base64');

/** PEM (public key or certificate) → verifier. Rekor stores it base64 encoded, hence `pemBytes`. */
export function verifierFromPem(pemBytes: Buffer): EntryVerifier {
  const text = pemBytes.toString('utf8');
  const m = /-----BEGIN ([A-Z ]+)-----([\s\S]*?)-----END \1-----/.exec(text);
  if (m === null) throw new Malformed('verifier is not PEM');
  const der = Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64');
  if (m[1] === 'CERTIFICATE') {
    new X509Certificate(der); // throws on garbage
    return { type: 'certificate', der };
  }
  return { type: 'publicKey', pem: text, der };
}

function digest(hash: unknown): { algorithm: string; hex: string } | undefined {
  const algorithm = get(hash, 'algorithm');
  const value = get(hash, 'value');
  if (typeof algorithm !== 'string' || typeof value !== 'string') return undefined;
  if (!/^[0-9a-fA-F]+$/.test(value)) throw new Malformed('digest is not hex');
  return { algorithm, hex: value.toLowerCase() };
}

/**
 * A digest left out, rather than the entry made malformed, when it cannot be read: only the signing
 * witness compares it (and refuses an entry without one); the monitor and verify read entries as before.
 */
function optionalDigest(hash: unknown): { algorithm: string; hex: string } | undefined {
  try {
    return digest(hash);
  } catch {
    return undefined;
  }
}

/** Rekor v2 (protobuf) hash algorithm names, mapped to the v1 spelling so both share one shape. */
const V2_HASH: Record<string, string> = {
  SHA2_256: 'sha256',
  SHA2_384: 'sha384',
  SHA2_512: 'sha512',
  SHA3_256: 'sha3-256',
  SHA3_384: 'sha3-384',
};

/** A v2 HashOutput: `{algorithm: "SHA2_256", digest: <base64>}`. */
function digestV2(hash: unknown): { algorithm: string; hex: string } | undefined {
  const algorithm = get(hash, 'algorithm');
  const value = get(hash, 'digest');
  if (typeof algorithm !== 'string' || typeof value !== 'string') return undefined;
  return {
    algorithm: V2_HASH[algorithm] ?? algorithm.toLowerCase(),
    hex: fromB64(value, 'digest').toString('hex'),
  };
}

/** A v2 Verifier: DER public key or DER certificate, with its key details. */
function verifierV2(v: unknown): EntryVerifier {
  const key = get(v, 'publicKey', 'rawBytes');
  if (typeof key === 'string') {
    const der = fromB64(key, 'publicKey.rawBytes');
    const pem = createPublicKey({ key: der, format: 'der', type: 'spki' }).export({
      format: 'pem',
      type: 'spki',
    });
    return { type: 'publicKey', pem: pem.toString(), der };
  }
  const der = fromB64(get(v, 'x509Certificate', 'rawBytes'), 'x509Certificate.rawBytes');
  new X509Certificate(der); // throws on garbage
  return { type: 'certificate', der };
}

function signaturesV2(sigs: unknown): EntrySignature[] {
  if (!Array.isArray(sigs)) throw new Malformed('signatures missing');
  return sigs.map((s) => ({
    signature: fromB64(get(s, 'content'), 'signature.content'),
    verifier: verifierV2(get(s, 'verifier')),
  }));
}

function single(
  sig: EntrySignature[],
  kind: ParsedEntry['kind'],
  apiVersion: string,
  d: ParsedEntry['artifactDigest'],
): ParsedEntry {
  if (sig.length === 0) throw new Malformed('no signatures');
  return { kind, apiVersion, artifactDigest: d, signatures: sig, verifier: sig[0]!.verifier };
}

function parseKnown(body: Record<string, unknown>): ParsedEntry | undefined {
  const kind = body['kind'];
  const apiVersion = String(body['apiVersion'] ?? '');
  const spec = body['spec'];
  switch (kind) {
    case 'hashedrekord': {
      const v2 = get(spec, 'hashedRekordV002');
      if (v2 !== undefined) {
        const sigs = signaturesV2([get(v2, 'signature')]);
        return single(sigs, 'hashedrekord', apiVersion, digestV2(get(v2, 'data')));
      }
      const signature = fromB64(get(spec, 'signature', 'content'), 'signature.content');
      const verifier = verifierFromPem(
        fromB64(get(spec, 'signature', 'publicKey', 'content'), 'publicKey.content'),
      );
      return single([{ signature, verifier }], 'hashedrekord', apiVersion, digest(get(spec, 'data', 'hash')));
    }
    case 'rekord': {
      const format = mustString(get(spec, 'signature', 'format'), 'signature.format');
      const key = fromB64(get(spec, 'signature', 'publicKey', 'content'), 'publicKey.content');
      const verifier: EntryVerifier =
        format === 'x509' ? verifierFromPem(key) : { type: 'other', format, content: key };
      const signature = fromB64(get(spec, 'signature', 'content'), 'signature.content');
      return single([{ signature, verifier }], 'rekord', apiVersion, digest(get(spec, 'data', 'hash')));
    }
    case 'dsse': {
      const v2 = get(spec, 'dsseV002');
      if (v2 !== undefined) {
        return single(
          signaturesV2(get(v2, 'signatures')),
          'dsse',
          apiVersion,
          digestV2(get(v2, 'payloadHash')),
        );
      }
      const sigs = get(spec, 'signatures');
      if (!Array.isArray(sigs)) throw new Malformed('signatures missing');
      const signatures = sigs.map((s) => ({
        signature: fromB64(get(s, 'signature'), 'signature'),
        verifier: verifierFromPem(fromB64(get(s, 'verifier'), 'verifier')),
      }));
      const entry = single(signatures, 'dsse', apiVersion, digest(get(spec, 'payloadHash')));
      const envelopeHash = optionalDigest(get(spec, 'envelopeHash'));
      return envelopeHash === undefined ? entry : { ...entry, envelopeHash };
    }
    case 'intoto': {
      if (apiVersion === '0.0.1') {
        const verifier = verifierFromPem(fromB64(get(spec, 'publicKey'), 'publicKey'));
        // 0.0.1 bodies keep no signature, only the key and the envelope hash.
        return {
          kind: 'intoto',
          apiVersion,
          artifactDigest: digest(get(spec, 'content', 'payloadHash')) ?? digest(get(spec, 'content', 'hash')),
          signatures: [],
          verifier,
        };
      }
      const sigs = get(spec, 'content', 'envelope', 'signatures');
      if (!Array.isArray(sigs)) throw new Malformed('envelope signatures missing');
      const signatures = sigs.map((s) => ({
        // intoto 0.0.2 double-encodes the signature: base64 of its base64 text.
        signature: Buffer.from(fromB64(get(s, 'sig'), 'sig').toString('utf8'), 'base64'),
        verifier: verifierFromPem(fromB64(get(s, 'publicKey'), 'publicKey')),
      }));
      return single(signatures, 'intoto', apiVersion, digest(get(spec, 'content', 'payloadHash')));
    }
    default:
      return undefined;
  }
}

/**
 * Parses a canonicalized entry body (raw bytes or Rekor's base64). Never throws: a log scan must
 * go on past entries it cannot read, and report them.
 */
export function parseEntryBody(body: Buffer | string, logIndex?: number): EntryParseResult {
  let kind: string | undefined;
  let apiVersion: string | undefined;
  try {
    const bytes = typeof body === 'string' ? Buffer.from(body, 'base64') : body;
    const json = JSON.parse(bytes.toString('utf8')) as unknown;
    if (json === null || typeof json !== 'object') throw new Malformed('body is not an object');
    const obj = json as Record<string, unknown>;
    kind = typeof obj['kind'] === 'string' ? obj['kind'] : undefined;
    apiVersion = typeof obj['apiVersion'] === 'string' ? obj['apiVersion'] : undefined;
    const entry = parseKnown(obj);
    if (entry === undefined) {
      return {
        ok: false,
        error: {
          error: 'unknown-kind',
          kind,
          apiVersion,
          message: `unsupported entry kind ${kind}`,
          logIndex,
        },
      };
    }
    return { ok: true, entry };
  } catch (err) {
    const message = errorMessage(err);
    return { ok: false, error: { error: 'malformed', kind, apiVersion, message, logIndex } };
  }
}
