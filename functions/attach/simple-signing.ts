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
import { AmbiguousFieldError, DuplicateKeyError, goStruct, parseGoJson } from '../registry/go-json.ts';
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

// cosign decodes the payload with Go's encoding/json, which matches a key to a struct field exactly or,
// failing that, under Unicode simple case folding: the spec's own example spells `Docker-manifest-digest`,
// and `Critical` or `doc\u212Aer-reference` (KELVIN SIGN) read the same to cosign. So do they here, but only
// when one spelling is present (registry/go-json.ts): Go would decode each into the one field. A key
// twice in one object is refused before that (parseGoJson): Go merges the two values, JSON.parse keeps
// the last, so a `critical` object given twice could name one image to cosign and another to us.
const payloadSchema = goStruct(
  ['critical', 'optional'],
  z.object({
    critical: goStruct(
      ['identity', 'image', 'type'],
      z.object({
        identity: goStruct(['docker-reference'], z.object({ 'docker-reference': z.string() })),
        image: goStruct(
          ['docker-manifest-digest'],
          z.object({
            'docker-manifest-digest': z
              .string()
              .refine(isDigest, 'docker-manifest-digest must be a sha256 digest'),
          }),
        ),
        type: z.literal(COSIGN_SIGNATURE_TYPE),
      }),
    ),
    optional: z.record(z.string(), z.unknown()).nullable().optional(),
  }),
);

/** The schema's verdict; a field spelled two ways is refused with the payload's own error. */
function safeParsePayload(json: unknown) {
  try {
    return payloadSchema.safeParse(json);
  } catch (err) {
    if (!(err instanceof AmbiguousFieldError)) throw err;
    throw new InvalidInputError('simple-signing payload spells a field more than one way', err.details);
  }
}

/** Parse and validate a payload; with `expectedDigest`, refuse one that signs another image. */
export function parseSimpleSigningPayload(bytes: Uint8Array, expectedDigest?: string): SimpleSigningPayload {
  if (bytes.byteLength > MAX_PAYLOAD_BYTES) {
    throw new InvalidInputError('simple-signing payload too large', { size: bytes.byteLength });
  }
  let json: unknown;
  try {
    json = parseGoJson(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    if (cause instanceof DuplicateKeyError) {
      throw new InvalidInputError(`simple-signing payload is ambiguous: ${cause.message}`, cause.details);
    }
    throw new InvalidInputError('simple-signing payload is not JSON', {}, cause);
  }
  const parsed = safeParsePayload(json);
  if (!parsed.success) {
    throw new InvalidInputError('not a cosign simple-signing payload', {
      reason: z.prettifyError(parsed.error),
    });
  }
  const payload = {
    dockerReference: parsed.data.critical.identity['docker-reference'],
    manifestDigest: parsed.data.critical.image['docker-manifest-digest'],
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
