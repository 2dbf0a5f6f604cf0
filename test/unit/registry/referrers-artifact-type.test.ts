/**
 * The referrers API's artifactType filter, when the registry ignores it (no `OCI-Filters-Applied`):
 * the client filters, and keeps the descriptors whose artifactType is left open (none, or the empty
 * config media type go-containerregistry lists cosign 3's referrers under), for the caller to read
 * their manifests (attach/referrer.ts selectReferrers, bounded). A registry that says it filtered is
 * taken at its word. Served from a loopback server: docker-registry 2.8 has no referrers API.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, describe, test } from 'node:test';
import { artifactTypeUnsaid, RegistryClient } from '../../../functions/registry/client.ts';
import { sha256Digest } from '../../../functions/registry/digest.ts';
import { OCI_EMPTY, OCI_INDEX, OCI_MANIFEST } from '../../../functions/registry/media-types.ts';
import { startProxy, type TestProxy } from '../../helpers/registry.ts';

const SUBJECT = sha256Digest(Buffer.from('the subject image'));
const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

const proxies: TestProxy[] = [];
after(async () => {
  for (const p of proxies) await p.stop();
});

const entry = (i: number, artifactType?: string) => ({
  mediaType: OCI_MANIFEST,
  digest: sha256Digest(Buffer.from(`referrer ${i}`)),
  size: 700,
  ...(artifactType === undefined ? {} : { artifactType }),
});

const LISTED = [
  entry(1, BUNDLE),
  entry(2, OCI_EMPTY),
  entry(3),
  entry(4, ''),
  entry(5, 'application/spdx+json'),
];

async function referrersApi(filtersApplied: boolean) {
  const server = await startProxy(undefined, (_req, res: ServerResponse) => {
    const headers: Record<string, string> = { 'content-type': OCI_INDEX };
    if (filtersApplied) headers['oci-filters-applied'] = 'artifactType';
    res
      .writeHead(200, headers)
      .end(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: LISTED }));
    return true;
  });
  proxies.push(server);
  return { server, client: new RegistryClient({ allowedHosts: [server.host] }) };
}

describe('referrers listed by an API that ignores the artifactType filter', () => {
  test('keeps those of the type and those whose type is left open; drops the others', async () => {
    const { server, client } = await referrersApi(false);
    const found = await client.referrers({ host: server.host, repository: 'team/app' }, SUBJECT, {
      artifactType: BUNDLE,
    });
    assert.deepEqual(found, [LISTED[0], LISTED[1], LISTED[2], LISTED[3]]);
    assert.equal(server.requests[0]!.url.searchParams.get('artifactType'), BUNDLE);
  });

  test('a registry that says it filtered is not filtered again', async () => {
    const { server, client } = await referrersApi(true);
    const found = await client.referrers({ host: server.host, repository: 'team/app' }, SUBJECT, {
      artifactType: BUNDLE,
    });
    assert.deepEqual(found, LISTED);
  });

  test('artifactTypeUnsaid', () => {
    assert.deepEqual(
      LISTED.map((d) => artifactTypeUnsaid(d)),
      [false, true, true, true, false],
    );
  });
});
