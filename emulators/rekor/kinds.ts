import { createHash, createPublicKey, type KeyObject, verify, X509Certificate } from 'node:crypto';
import { verifyPrehashed } from '../../functions/tlog/crypto/prehashed.ts';
import { canonicalJson } from '../../functions/tlog/entries/canonical.ts';
import { badRequest } from './errors.ts';

/** A proposed entry accepted by the log: the canonical body it stores and its search keys. */
export interface AcceptedEntry {
  body: Buffer;
  keys: string[];
}

const HEX = /^[0-9a-f]+$/;
const DIGEST_LENGTH: Record<string, number> = { sha256: 32, sha384: 48, sha512: 64 };

function obj(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw badRequest(`${what} must be an object`);
  return value as Record<string, unknown>;
}

function str(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') throw badRequest(`${what} must be a non-empty string`);
  return value;
}

function b64(value: unknown, what: string): Buffer {
  const s = str(value, what);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw badRequest(`${what} must be base64`);
  return Buffer.from(s, 'base64');
}

/** A verifier as Rekor takes it: PEM of a public key or an X.509 certificate. */
export function parseVerifierPem(pem: Buffer, what: string): { key: KeyObject; keyId: string } {
  const text = pem.toString('utf8');
  try {
    const key = text.includes('CERTIFICATE') ? new X509Certificate(pem).publicKey : createPublicKey(text);
    return { key, keyId: publicKeySearchKey(key) };
  } catch {
    throw badRequest(`${what} is not a PEM public key or certificate`);
  }
}

/** Search key for a public key: sha256 of its DER SubjectPublicKeyInfo. */
export function publicKeySearchKey(key: KeyObject): string {
  return `key:${createHash('sha256')
    .update(key.export({ format: 'der', type: 'spki' }))
    .digest('hex')}`;
}

const sha256Hex = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex');

/** DSSE pre-authentication encoding, what DSSE signatures cover. */
export function pae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `),
    type,
    Buffer.from(` ${payload.length} `),
    payload,
  ]);
}

function verifyMessage(key: KeyObject, message: Buffer, signature: Buffer): boolean {
  try {
    if (key.asymmetricKeyType === 'ed25519') return verify(null, message, key, signature);
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const alg = curve === 'secp384r1' ? 'sha384' : curve === 'secp521r1' ? 'sha512' : 'sha256';
    return verify(alg, message, key, signature);
  } catch {
    return false;
  }
}

/** in-toto statement subject digests, indexed as Rekor does for dsse and intoto entries. */
function subjectKeys(payloadType: string, payload: Buffer): string[] {
  if (payloadType !== 'application/vnd.in-toto+json') return [];
  try {
    const stmt = JSON.parse(payload.toString('utf8')) as {
      subject?: Array<{ digest?: Record<string, string> }>;
    };
    return (stmt.subject ?? []).flatMap((s) =>
      Object.entries(s.digest ?? {}).map(([alg, v]) => `${alg}:${v}`),
    );
  } catch {
    return [];
  }
}

function hashedrekord(spec: Record<string, unknown>): AcceptedEntry {
  const hash = obj(obj(spec['data'], 'spec.data')['hash'], 'spec.data.hash');
  const algorithm = str(hash['algorithm'], 'spec.data.hash.algorithm');
  const value = str(hash['value'], 'spec.data.hash.value');
  if (DIGEST_LENGTH[algorithm] === undefined) throw badRequest(`unsupported hash algorithm ${algorithm}`);
  if (!HEX.test(value) || value.length !== DIGEST_LENGTH[algorithm]! * 2)
    throw badRequest('invalid hash value');
  const signature = obj(spec['signature'], 'spec.signature');
  const sig = b64(signature['content'], 'spec.signature.content');
  const pem = b64(
    obj(signature['publicKey'], 'spec.signature.publicKey')['content'],
    'spec.signature.publicKey.content',
  );
  const { key, keyId } = parseVerifierPem(pem, 'spec.signature.publicKey.content');
  if (!verifyPrehashed(key, algorithm, Buffer.from(value, 'hex'), sig)) {
    throw badRequest('verifying signature: invalid signature when validating ASN.1 encoded signature');
  }
  const body = {
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      data: { hash: { algorithm, value } },
      signature: { content: sig.toString('base64'), publicKey: { content: pem.toString('base64') } },
    },
  };
  return { body: Buffer.from(canonicalJson(body)), keys: [`${algorithm}:${value}`, keyId] };
}

interface Envelope {
  payloadType: string;
  payload: Buffer;
  signatures: Array<{ sig: Buffer; keyid?: string }>;
}

function parseEnvelope(json: string): Envelope {
  let raw: Record<string, unknown>;
  try {
    raw = obj(JSON.parse(json), 'envelope');
  } catch (err) {
    throw err instanceof Error && 'status' in err ? err : badRequest('envelope is not JSON');
  }
  const sigs = raw['signatures'];
  if (!Array.isArray(sigs) || sigs.length === 0) throw badRequest('envelope has no signatures');
  return {
    payloadType: str(raw['payloadType'], 'envelope.payloadType'),
    payload: b64(raw['payload'], 'envelope.payload'),
    signatures: sigs.map((s, i) => {
      const o = obj(s, `envelope.signatures[${i}]`);
      return { sig: b64(o['sig'], `envelope.signatures[${i}].sig`), keyid: o['keyid'] as string | undefined };
    }),
  };
}

function dsse(spec: Record<string, unknown>): AcceptedEntry {
  const proposed = obj(spec['proposedContent'], 'spec.proposedContent');
  const envelopeJson = str(proposed['envelope'], 'spec.proposedContent.envelope');
  const env = parseEnvelope(envelopeJson);
  const verifiersRaw = proposed['verifiers'];
  if (!Array.isArray(verifiersRaw) || verifiersRaw.length === 0) throw badRequest('no verifiers');
  const verifiers = verifiersRaw.map((v, i) => {
    const pem = b64(v, `verifiers[${i}]`);
    return { pem, ...parseVerifierPem(pem, `verifiers[${i}]`) };
  });
  const message = pae(env.payloadType, env.payload);
  const signatures = env.signatures.map(({ sig }) => {
    const v = verifiers.find((cand) => verifyMessage(cand.key, message, sig));
    if (v === undefined) throw badRequest('could not verify envelope signature with any verifier');
    return { signature: sig.toString('base64'), verifier: v.pem.toString('base64'), keyId: v.keyId };
  });
  signatures.sort((a, b) => (a.signature < b.signature ? -1 : a.signature > b.signature ? 1 : 0));
  const payloadHash = sha256Hex(env.payload);
  const envelopeHash = sha256Hex(envelopeJson);
  const body = {
    apiVersion: '0.0.1',
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: envelopeHash },
      payloadHash: { algorithm: 'sha256', value: payloadHash },
      signatures: signatures.map(({ signature, verifier }) => ({ signature, verifier })),
    },
  };
  return {
    body: Buffer.from(canonicalJson(body)),
    keys: [
      `sha256:${payloadHash}`,
      `sha256:${envelopeHash}`,
      ...subjectKeys(env.payloadType, env.payload),
      ...signatures.map((s) => s.keyId),
    ],
  };
}

function intoto(spec: Record<string, unknown>): AcceptedEntry {
  const content = obj(spec['content'], 'spec.content');
  const envelope = obj(content['envelope'], 'spec.content.envelope');
  const payloadType = str(envelope['payloadType'], 'envelope.payloadType');
  // intoto 0.0.2 double-encodes payload and signatures (base64 of the base64 text).
  const payload = Buffer.from(b64(envelope['payload'], 'envelope.payload').toString('utf8'), 'base64');
  const sigs = envelope['signatures'];
  if (!Array.isArray(sigs) || sigs.length === 0) throw badRequest('envelope has no signatures');
  const message = pae(payloadType, payload);
  const keys: string[] = [];
  const hashSigs = sigs.map((s, i) => {
    const o = obj(s, `signatures[${i}]`);
    const sig = Buffer.from(b64(o['sig'], `signatures[${i}].sig`).toString('utf8'), 'base64');
    const pem = b64(o['publicKey'], `signatures[${i}].publicKey`);
    const { key, keyId } = parseVerifierPem(pem, `signatures[${i}].publicKey`);
    if (!verifyMessage(key, message, sig)) throw badRequest('verifying envelope signature failed');
    keys.push(keyId);
    const keyid = typeof o['keyid'] === 'string' && o['keyid'] !== '' ? o['keyid'] : undefined;
    return {
      entry: { keyid, publicKey: o['publicKey'] as string, sig: o['sig'] as string },
      pem,
      sig,
      keyid,
    };
  });
  const payloadHash = sha256Hex(payload);
  const envelopeHash = sha256Hex(
    canonicalJson({
      payloadType,
      payload: payload.toString('base64'),
      signatures: hashSigs.map((s) => ({
        keyid: s.keyid,
        publicKey: s.pem.toString('utf8'),
        sig: s.sig.toString('base64'),
      })),
    }),
  );
  const body = {
    apiVersion: '0.0.2',
    kind: 'intoto',
    spec: {
      content: {
        envelope: { payloadType, signatures: hashSigs.map((s) => s.entry) },
        hash: { algorithm: 'sha256', value: envelopeHash },
        payloadHash: { algorithm: 'sha256', value: payloadHash },
      },
    },
  };
  return {
    body: Buffer.from(canonicalJson(body)),
    keys: [`sha256:${payloadHash}`, `sha256:${envelopeHash}`, ...subjectKeys(payloadType, payload), ...keys],
  };
}

/** Validates a proposed entry as Rekor v1 does, verifying its signatures. */
export function acceptProposedEntry(proposed: unknown): AcceptedEntry {
  const p = obj(proposed, 'proposed entry');
  const kind = str(p['kind'], 'kind');
  const apiVersion = str(p['apiVersion'], 'apiVersion');
  const spec = obj(p['spec'], 'spec');
  if (kind === 'hashedrekord' && apiVersion === '0.0.1') return hashedrekord(spec);
  if (kind === 'dsse' && apiVersion === '0.0.1') return dsse(spec);
  if (kind === 'intoto' && apiVersion === '0.0.2') return intoto(spec);
  throw badRequest(`unsupported entry kind ${kind} version ${apiVersion}`);
}
