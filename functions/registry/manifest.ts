/**
 * OCI descriptors, image manifests and indexes (image-spec v1.1), validated with zod. Objects are loose:
 * a read-modify-write must keep the fields other tools wrote, including ones this module does not know.
 */
import { z } from 'zod';
import { isDigest } from './digest.ts';
import { RegistryIntegrityError } from './errors.ts';

const digest = z.string().refine(isDigest, 'not a sha256 digest');
const annotations = z.record(z.string(), z.string());

export const descriptorSchema = z.looseObject({
  mediaType: z.string().min(1),
  digest,
  size: z.number().int().nonnegative(),
  artifactType: z.string().optional(),
  annotations: annotations.optional(),
});
export type Descriptor = z.infer<typeof descriptorSchema>;

export const imageManifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: annotations.optional(),
});
export type ImageManifest = z.infer<typeof imageManifestSchema>;

export const imageIndexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  manifests: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: annotations.optional(),
});
export type ImageIndex = z.infer<typeof imageIndexSchema>;

/** Parse manifest bytes against a schema; anything malformed is an integrity failure naming `what`. */
export function parseManifestBytes<T extends z.ZodType>(
  schema: T,
  bytes: Uint8Array,
  details: Record<string, unknown>,
): z.infer<T> {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new RegistryIntegrityError('manifest is not JSON', { ...details, reason: String(cause) });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new RegistryIntegrityError('manifest does not have the expected shape', {
      ...details,
      reason: z.prettifyError(parsed.error),
    });
  }
  return parsed.data;
}

/** Plain descriptor fields, for embedding in another document without dragging unknown fields along. */
export function toDescriptor(d: {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string | undefined;
  annotations?: Record<string, string> | undefined;
}): Descriptor {
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.artifactType === undefined ? {} : { artifactType: d.artifactType }),
    ...(d.annotations === undefined ? {} : { annotations: d.annotations }),
  };
}
