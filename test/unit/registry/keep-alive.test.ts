/**
 * The registry transport keeps connections alive (HEADs included: fetch closes the connection after
 * every HEAD), and a kept-alive connection the server dropped while idle costs an idempotent request
 * nothing but a second connection.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { RegistryClient } from '../../../functions/registry/client.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: `sha256:${'a'.repeat(64)}`,
      size: 2,
    },
    layers: [],
  }),
);
const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;

describe('registry connections', () => {
  let server: Server;
  let host: string;
  const connections: Socket[] = [];
  /** Requests answered on a socket that already served one: the server drops that socket instead. */
  let dropReused = false;

  before(async () => {
    server = createServer((req, res) => {
      const socket = req.socket as Socket & { served?: number };
      socket.served = (socket.served ?? 0) + 1;
      if (dropReused && socket.served > 1) {
        socket.destroy();
        return;
      }
      res.writeHead(200, {
        'content-type': OCI_MANIFEST,
        'docker-content-digest': digest,
        'content-length': String(manifest.length),
      });
      res.end(req.method === 'HEAD' ? undefined : manifest);
    });
    server.on('connection', (socket) => connections.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    host = `127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  });
  after(async () => {
    for (const socket of connections) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('HEADs and GETs in a row share one connection', async () => {
    const client = new RegistryClient({ allowedHosts: [host] });
    const before = connections.length;
    for (let i = 0; i < 20; i++) {
      const resolved = await client.resolve({ host, repository: 'team/app', tag: `v${i}` });
      assert.equal(resolved.digest, digest);
      const fetched = await client.getManifest({ host, repository: 'team/app' }, `v${i}`);
      assert.equal(fetched.descriptor.digest, digest);
    }
    // One, or two when the next request starts before the first connection is back in the pool.
    assert.ok(connections.length - before <= 2, `${connections.length - before} connections for 40 requests`);
  });

  test('a kept-alive connection the server dropped is replaced for an idempotent request', async () => {
    const client = new RegistryClient({ allowedHosts: [host] });
    await client.resolve({ host, repository: 'team/app', tag: 'warm' });
    dropReused = true;
    try {
      const before = connections.length;
      const resolved = await client.resolve({ host, repository: 'team/app', tag: 'after-drop' });
      assert.equal(resolved.digest, digest);
      assert.equal(connections.length - before, 1, 'one new connection after the dropped one');
    } finally {
      dropReused = false;
    }
  });
});
