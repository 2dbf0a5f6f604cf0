/**
 * cosign's "simple signing" payload (cosign specs/SIGNATURE_SPEC.md, after containers-signature(5)):
 *
 *   {"critical":{"identity":{"docker-reference":R},"image":{"docker-manifest-digest":D},
 *    "type":"cosign container image signature"},"optional":{…}|null}
 *
 * Built byte-for-byte as cosign serialises it (field order, `"optional":null` when empty), since the
 * signature covers these exact bytes.
 */
import { z } from 'zod';
import { InvalidInputError, PolicyViolationError } from '../errors.ts';
import { assertDigest, isDigest } from '../registry/digest.ts';
import { formatRepository, type RepositoryRef } from '../registry/reference.ts';

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const COSIGN_SIGNATURE_TYPE = 'cosign container image signature';
const MAX_PAYLOAD_BYTES = 256 * 1024;

export type OptionalClaims = Record<string, unknown>;

export interface SimpleSigningPayload {
  readonly dockerReference: string;
  readonly manifestDigest: string;
  readonly optional: OptionalClaims | null;
}

export function buildSimpleSigningPayload(
  image: RepositoryRef & { readonly digest: string },
  optional?: OptionalClaims,
): Uint8Array {
  const payload = {
    critical: {
      identity: { 'docker-reference': formatRepository(image) },
      image: { 'docker-manifest-digest': assertDigest(image.digest, { reference: formatRepository(image) }) },
      type: COSIGN_SIGNATURE_TYPE,
    },
    optional: optional === undefined || Object.keys(optional).length === 0 ? null : optional,
  };
  return Buffer.from(JSON.stringify(payload), 'utf8');
}

// The spec's own example spells the digest key `Docker-manifest-digest`, and cosign (Go's case-insensitive
// JSON decoding) accepts it; so do we, but only when exactly one spelling is present.
const imageSchema = z.record(z.string(), z.unknown()).transform((image, ctx) => {
  const keys = Object.keys(image).filter((k) => k.toLowerCase() === 'docker-manifest-digest');
  const value = keys.length === 1 ? image[keys[0] as string] : undefined;
  if (typeof value !== 'string' || !isDigest(value)) {
    ctx.addIssue({ code: 'custom', message: 'docker-manifest-digest must be one sha256 digest' });
    return z.NEVER;
  }
  return value;
});

const payloadSchema = z.object({
  critical: z.object({
    identity: z.object({ 'docker-reference': z.string() }),
    image: imageSchema,
    type: z.literal(COSIGN_SIGNATURE_TYPE),
  }),
  optional: z.record(z.string(), z.unknown()).nullable().optional(),
});

/** Parse and validate a payload; with `expectedDigest`, refuse one that signs another image. */
export function parseSimpleSigningPayload(bytes: Uint8Array, expectedDigest?: string): SimpleSigningPayload {
  if (bytes.byteLength > MAX_PAYLOAD_BYTES) {
    throw new InvalidInputError('simple-signing payload too large', { size: bytes.byteLength });
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new InvalidInputError('simple-signing payload is not JSON', {}, cause);
  }
  const parsed = payloadSchema.safeParse(json);
  if (!parsed.success) {
    throw new InvalidInputError('not a cosign simple-signing payload', {
      reason: z.prettifyError(parsed.error),
    });
  }
  const payload = {
    dockerReference: parsed.data.critical.identity['docker-reference'],
    manifestDigest: parsed.data.critical.image,
    optional: parsed.data.optional ?? null,
  };
  if (expectedDigest !== undefined && payload.manifestDigest !== expectedDigest) {
    throw new PolicyViolationError('simple-signing payload signs a different image', {
      digest: expectedDigest,
      signedDigest: payload.manifestDigest,
    });
  }
  return payload;
}
