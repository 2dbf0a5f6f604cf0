import { createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { verifyPrehashed } from '../../functions/tlog/crypto/prehashed.ts';
import { canonicalJson } from '../../functions/tlog/entries/canonical.ts';
import { GRPC_INVALID_ARGUMENT, grpcError, type RekorHttpError } from './errors.ts';

/** A hashedrekord v0.0.2 request accepted by the v2 log: the canonicalized entry it stores. */
export interface AcceptedV2Entry {
  body: Buffer;
  kind: 'hashedrekord';
  version: '0.0.2';
}

interface KeyRule {
  type: 'ec' | 'rsa';
  /** EC curve as Node names it, or RSA modulus bits. */
  shape: string | number;
  hash: 'sha256' | 'sha384' | 'sha512';
}

/**
 * Key details the public instance's algorithm registry accepts for prehashed signatures that
 * this emulator can verify. (Ed25519ph, also accepted there, needs a prehash mode Node lacks.)
 */
const KEY_RULES: Record<string, KeyRule> = {
  PKIX_ECDSA_P256_SHA_256: { type: 'ec', shape: 'prime256v1', hash: 'sha256' },
  PKIX_ECDSA_P384_SHA_384: { type: 'ec', shape: 'secp384r1', hash: 'sha384' },
  PKIX_ECDSA_P521_SHA_512: { type: 'ec', shape: 'secp521r1', hash: 'sha512' },
  PKIX_RSA_PKCS1V15_2048_SHA256: { type: 'rsa', shape: 2048, hash: 'sha256' },
  PKIX_RSA_PKCS1V15_3072_SHA256: { type: 'rsa', shape: 3072, hash: 'sha256' },
  PKIX_RSA_PKCS1V15_4096_SHA256: { type: 'rsa', shape: 4096, hash: 'sha256' },
};
const HASH_OUTPUT: Record<KeyRule['hash'], { name: string; length: number }> = {
  sha256: { name: 'SHA2_256', length: 32 },
  sha384: { name: 'SHA2_384', length: 48 },
  sha512: { name: 'SHA2_512', length: 64 },
};

const invalid = (message: string): RekorHttpError => grpcError(400, GRPC_INVALID_ARGUMENT, message);
// rekor-tiles logs the reason and answers only this.
const INVALID_HASHEDREKORD = 'invalid hashedrekord request';
// Since 2026 the public v2 log takes hashedrekord only (DSSE envelopes go in as hashedrekord of
// their PAE digest); a dsseRequestV002 gets this answer.
const INVALID_TYPE = 'invalid type, must be hashedrekord';

class Reject extends Error {}

function obj(value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Reject('not an object');
  return value as Record<string, unknown>;
}

/** protojson rejects unknown fields (rekor-tiles sets DiscardUnknown: false). */
function onlyFields(o: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw invalid(`proto: unknown field "${k}"`);
  }
}

function bytes(value: unknown): Buffer {
  if (typeof value !== 'string' || value === '') throw new Reject('missing bytes');
  // protojson takes standard or URL-safe base64, padded or not.
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) throw new Reject('bad base64');
  return Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

/** Field of a message under its JSON name or its proto name, as protojson accepts either. */
function field(o: Record<string, unknown>, json: string, proto: string): unknown {
  return o[json] ?? o[proto];
}

function keyMatches(key: KeyObject, rule: KeyRule): boolean {
  if (key.asymmetricKeyType !== rule.type) return false;
  const d = key.asymmetricKeyDetails;
  return rule.type === 'ec' ? d?.namedCurve === rule.shape : d?.modulusLength === rule.shape;
}

function hashedRekord(raw: unknown): AcceptedV2Entry {
  const req = obj(raw);
  onlyFields(req, ['digest', 'signature']);
  const digest = bytes(req['digest']);
  const sig = obj(req['signature']);
  onlyFields(sig, ['content', 'verifier']);
  const content = bytes(sig['content']);
  const ver = obj(sig['verifier']);
  onlyFields(ver, [
    'publicKey',
    'public_key',
    'x509Certificate',
    'x509_certificate',
    'keyDetails',
    'key_details',
  ]);
  const keyDetails = field(ver, 'keyDetails', 'key_details');
  const rule = typeof keyDetails === 'string' ? KEY_RULES[keyDetails] : undefined;
  if (rule === undefined) throw new Reject(`unsupported key details ${String(keyDetails)}`);
  const pub = field(ver, 'publicKey', 'public_key');
  const cert = field(ver, 'x509Certificate', 'x509_certificate');
  if ((pub === undefined) === (cert === undefined))
    throw new Reject('want exactly one of publicKey, x509Certificate');
  let key: KeyObject;
  let verifier: Record<string, unknown>;
  try {
    if (pub !== undefined) {
      const der = bytes(field(obj(pub), 'rawBytes', 'raw_bytes'));
      key = createPublicKey({ key: der, format: 'der', type: 'spki' });
      verifier = { keyDetails, publicKey: { rawBytes: der.toString('base64') } };
    } else {
      const der = bytes(field(obj(cert), 'rawBytes', 'raw_bytes'));
      key = new X509Certificate(der).publicKey; // strict DER certificate, as x509.ParseCertificate
      verifier = { keyDetails, x509Certificate: { rawBytes: der.toString('base64') } };
    }
  } catch (err) {
    if (err instanceof Reject) throw err;
    throw new Reject('unparseable verifier');
  }
  if (!keyMatches(key, rule)) throw new Reject('key does not match its key details');
  const hash = HASH_OUTPUT[rule.hash];
  if (digest.length !== hash.length) throw new Reject('digest length does not match the hash algorithm');
  if (!verifyPrehashed(key, rule.hash, digest, content)) throw new Reject('signature does not verify');
  const entry = {
    apiVersion: '0.0.2',
    kind: 'hashedrekord',
    spec: {
      hashedRekordV002: {
        data: { algorithm: hash.name, digest: digest.toString('base64') },
        signature: { content: content.toString('base64'), verifier },
      },
    },
  };
  return { body: Buffer.from(canonicalJson(entry)), kind: 'hashedrekord', version: '0.0.2' };
}

/** Validates a rekor-tiles CreateEntryRequest (JSON), verifying its signature, as the public v2 log. */
export function acceptCreateEntryRequest(json: unknown): AcceptedV2Entry {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw invalid(INVALID_TYPE);
  const req = json as Record<string, unknown>;
  onlyFields(req, [
    'hashedRekordRequestV002',
    'hashed_rekord_request_v0_0_2',
    'dsseRequestV002',
    'dsse_request_v0_0_2',
  ]);
  const hr = field(req, 'hashedRekordRequestV002', 'hashed_rekord_request_v0_0_2');
  if (hr === undefined) throw invalid(INVALID_TYPE);
  try {
    return hashedRekord(hr);
  } catch (err) {
    if (err instanceof Reject) throw invalid(INVALID_HASHEDREKORD);
    throw err;
  }
}
