/**
 * Turns docker-registry (distribution 2.8) notification events into the messages Artifact
 * Registry publishes on `gcr`. Only manifest and index events count: blob pushes are not images.
 * https://distribution.github.io/distribution/about/notifications/
 */
import { z } from 'zod';

export const MANIFEST_MEDIA_TYPES = new Set([
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
]);

const RegistryEventSchema = z.object({
  id: z.string(),
  action: z.string(),
  target: z
    .object({
      mediaType: z.string().optional(),
      digest: z.string().optional(),
      repository: z.string(),
      tag: z.string().optional(),
    })
    .loose(),
});

export const RegistryEnvelopeSchema = z.object({ events: z.array(z.unknown()) });

export interface GcrMessageOut {
  action: 'INSERT' | 'DELETE';
  digest?: string;
  tag?: string;
}

function isManifestEvent(action: string, target: { mediaType?: string | undefined }): boolean {
  if (target.mediaType) return MANIFEST_MEDIA_TYPES.has(target.mediaType);
  // Distribution 2.8's delete events carry neither media type nor URL: a manifest delete is
  // {repository, digest} and each of its tags {repository, tag}. A blob delete looks the same as a
  // manifest delete; sigsentry never deletes blobs and treats every DELETE as nothing to sign.
  return action === 'delete';
}

/** The `gcr` message for one registry event, or null when Artifact Registry would send none. */
export function toGcrMessage(rawEvent: unknown, registryHost: string): GcrMessageOut | null {
  const parsed = RegistryEventSchema.safeParse(rawEvent);
  if (!parsed.success) return null;
  const { action, target } = parsed.data;
  if (!isManifestEvent(action, target)) return null;
  const name = `${registryHost}/${target.repository}`;
  const digest = target.digest ? `${name}@${target.digest}` : undefined;
  const tag = target.tag ? `${name}:${target.tag}` : undefined;
  if (!digest && !tag) return null;
  if (action === 'push') return { action: 'INSERT', ...(digest ? { digest } : {}), ...(tag ? { tag } : {}) };
  if (action === 'delete')
    return { action: 'DELETE', ...(digest ? { digest } : {}), ...(tag ? { tag } : {}) };
  return null;
}
