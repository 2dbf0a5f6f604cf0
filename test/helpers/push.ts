import { parseGcrMessage } from '../../functions/events/gcr-message.ts';
import { makeOciImage } from './oci-layout.ts';
import { skopeoCopy } from './skopeo.ts';
import { freshRepository, type TestStack } from './stack.ts';

/**
 * A fresh image pushed with skopeo to a fresh repository as `:v1`, and the `gcr` notification
 * Artifact Registry would send for it (digest and tag), for tests that hand it to a core directly.
 */
export async function pushSampleImage(stack: TestStack, prefix: string) {
  const repository = freshRepository(prefix);
  const pushed = makeOciImage({ tag: 'v1' });
  await skopeoCopy(pushed.source, `docker://${stack.env.REGISTRY}/${repository}:v1`);
  const gcr = {
    action: 'INSERT',
    digest: `${stack.env.REGISTRY}/${repository}@${pushed.digest}`,
    tag: `${stack.env.REGISTRY}/${repository}:v1`,
  };
  return {
    repository,
    pushed,
    image: gcr.digest,
    notification: parseGcrMessage(Buffer.from(JSON.stringify(gcr))),
    ref: { host: stack.env.REGISTRY!, repository, digest: pushed.digest },
  };
}
