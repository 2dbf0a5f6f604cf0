/** Media types of the OCI image spec v1.1 and Docker's schema 2, as registries serve them. */
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

/** Every manifest kind sigsentry reads; sent as Accept so registries do not down-convert. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  OCI_MANIFEST,
  OCI_INDEX,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
];
export const INDEX_MEDIA_TYPES: readonly string[] = [OCI_INDEX, DOCKER_MANIFEST_LIST];

export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
/** Docker's image config, the config of a Docker schema 2 manifest (cosign's with COSIGN_DOCKER_MEDIA_TYPES). */
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
/** The `{}` blob of OCI 1.1 artifacts (image-spec manifest.md, "Guidance for an Empty Descriptor"). */
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const OCI_EMPTY_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
export const OCTET_STREAM = 'application/octet-stream';
