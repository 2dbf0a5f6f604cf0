/**
 * A real docker-registry (Debian's distribution 2.8) for one test file, and tiny OCI images pushed to it with
 * skopeo. Images are built by hand as OCI layouts (config blob + one gzip layer) so no network is needed; an
 * image's content is derived from its name, so every name gives a distinct digest.
 *
 *   const registry = await startRegistry();
 *   after(() => registry.stop());
 *   const image = await registry.pushImage('team/app', 'v1');
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import type { TokenServer } from './token-server.ts';

const run = promisify(execFile);

export const DOCKER_REGISTRY_BIN = '/usr/bin/docker-registry';
export const SKOPEO_BIN = '/usr/bin/skopeo';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

export interface PushedManifest {
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
  readonly bytes: Buffer;
}

export interface PushedIndex extends PushedManifest {
  readonly platforms: ReadonlyArray<PushedManifest & { readonly architecture: string }>;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT`, the HOST of image references. */
  readonly host: string;
  readonly url: string;
  /** Push a single-platform image under repo:tag; `seed` varies the content (defaults to repo:tag). */
  pushImage(repository: string, tag: string, seed?: string): Promise<PushedManifest>;
  /** Push a two-platform (amd64, arm64) OCI image index under repo:tag. */
  pushIndex(repository: string, tag: string, seed?: string): Promise<PushedIndex>;
  /** Run skopeo with the given arguments against this registry (TLS verification off: it is plain http). */
  skopeo(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function registryConfig(
  root: string,
  port: number,
  auth: { token: TokenServer; bundle: string } | undefined,
): string {
  return [
    ...(auth === undefined
      ? []
      : [
          'auth:',
          '  token:',
          `    realm: ${auth.token.realm}`,
          `    service: ${auth.token.service}`,
          `    issuer: ${auth.token.issuer}`,
          `    rootcertbundle: ${auth.bundle}`,
        ]),
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${root}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '',
  ].join('\n');
}

async function waitReady(
  url: string,
  child: ChildProcess,
  stderr: () => string,
  ready: number,
): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode}): ${stderr()}`);
    try {
      const res = await fetch(`${url}/v2/`);
      await res.arrayBuffer();
      if (res.status === ready) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`docker-registry did not become ready: ${stderr()}`);
}

class OciLayout {
  readonly dir: string;
  readonly #index: Array<Record<string, unknown>> = [];

  constructor(dir: string) {
    this.dir = dir;
  }

  async init(): Promise<void> {
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  }

  async blob(data: Buffer): Promise<{ digest: string; size: number }> {
    const digest = sha256(data);
    await writeFile(join(this.dir, 'blobs', 'sha256', digest.slice('sha256:'.length)), data);
    return { digest, size: data.length };
  }

  /** A manifest whose single layer is a gzip tar holding one file named after the seed. */
  async image(seed: string, architecture: string): Promise<PushedManifest> {
    const tar = tarWithOneFile('seed.txt', Buffer.from(`${seed}\n`));
    const layer = await this.blob(gzipSync(tar));
    const config = await this.blob(
      Buffer.from(
        JSON.stringify({
          architecture,
          os: 'linux',
          config: { Labels: { 'dev.sigsentry.test.seed': seed } },
          rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
        }),
      ),
    );
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
      }),
    );
    const { digest, size } = await this.blob(bytes);
    return { digest, size, mediaType: OCI_MANIFEST, bytes };
  }

  async tag(tag: string, manifest: PushedManifest): Promise<void> {
    this.#index.push({
      mediaType: manifest.mediaType,
      digest: manifest.digest,
      size: manifest.size,
      annotations: { 'org.opencontainers.image.ref.name': tag },
    });
    await writeFile(
      join(this.dir, 'index.json'),
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: this.#index }),
    );
  }
}

/** A ustar archive with one regular file: enough for a layer that is a real tar. */
function tarWithOneFile(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512, 0);
  const field = (offset: number, length: number, value: string) =>
    header.write(value, offset, length, 'ascii');
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, '0');
  field(0, 100, name);
  field(100, 8, octal(0o644, 8));
  field(108, 8, octal(0, 8));
  field(116, 8, octal(0, 8));
  field(124, 12, octal(content.length, 12));
  field(136, 12, octal(0, 12));
  field(148, 8, '        ');
  field(156, 1, '0');
  field(257, 6, 'ustar');
  field(263, 2, '00');
  let checksum = 0;
  for (const byte of header) checksum += byte;
  field(148, 8, `${octal(checksum, 7)}\0`);
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512, 0);
  return Buffer.concat([header, content, padding, Buffer.alloc(1024, 0)]);
}

export interface RegistryOptions {
  /** Token authentication (`auth: token`) against this token server; pushes use its push credentials. */
  readonly tokenAuth?: TokenServer;
}

export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const work = await mkdtemp(join(tmpdir(), 'sigsentry-registry-'));
  const storage = join(work, 'storage');
  await mkdir(storage);
  let auth: { token: TokenServer; bundle: string } | undefined;
  if (options.tokenAuth !== undefined) {
    auth = { token: options.tokenAuth, bundle: join(work, 'token-root.pem') };
    await writeFile(auth.bundle, options.tokenAuth.rootCertificatePem);
  }
  let child: ChildProcess | undefined;
  let port = 0;
  let stderr = '';
  // The free port is only reserved until we close it; retry on the rare collision.
  for (let attempt = 0; attempt < 5 && child === undefined; attempt++) {
    port = await freePort();
    const configPath = join(work, 'config.yml');
    await writeFile(configPath, registryConfig(storage, port, auth));
    const started = spawn(DOCKER_REGISTRY_BIN, ['serve', configPath], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    stderr = '';
    started.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    try {
      // With token authentication, /v2/ answers 401 with its challenge once the registry is up.
      await waitReady(`http://127.0.0.1:${port}`, started, () => stderr, auth === undefined ? 200 : 401);
      child = started;
    } catch (err) {
      started.kill('SIGKILL');
      if (attempt === 4) throw err;
    }
  }
  const host = `127.0.0.1:${port}`;
  const url = `http://${host}`;
  let layouts = 0;

  const skopeo = async (...args: string[]): Promise<string> => {
    const { stdout } = await run(SKOPEO_BIN, args, { maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  };
  const copy = async (layoutDir: string, tag: string, repository: string, all: boolean): Promise<void> => {
    await skopeo(
      'copy',
      '--quiet',
      ...(all ? ['--all'] : []),
      '--preserve-digests',
      '--dest-tls-verify=false',
      ...(auth === undefined ? [] : ['--dest-creds', auth.token.pushCredentials]),
      `oci:${layoutDir}:${tag}`,
      `docker://${host}/${repository}:${tag}`,
    );
  };
  const newLayout = async (): Promise<OciLayout> => {
    const layout = new OciLayout(join(work, `layout-${layouts++}`));
    await layout.init();
    return layout;
  };

  return {
    host,
    url,
    skopeo,
    async pushImage(repository, tag, seed = `${repository}:${tag}`) {
      const layout = await newLayout();
      const image = await layout.image(seed, 'amd64');
      await layout.tag(tag, image);
      await copy(layout.dir, tag, repository, false);
      return image;
    },
    async pushIndex(repository, tag, seed = `${repository}:${tag}`) {
      const layout = await newLayout();
      const platforms = [];
      for (const architecture of ['amd64', 'arm64']) {
        platforms.push({ ...(await layout.image(`${seed}/${architecture}`, architecture)), architecture });
      }
      const bytes = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          manifests: platforms.map((p) => ({
            mediaType: p.mediaType,
            digest: p.digest,
            size: p.size,
            platform: { architecture: p.architecture, os: 'linux' },
          })),
        }),
      );
      const { digest, size } = await layout.blob(bytes);
      const index = { digest, size, mediaType: OCI_INDEX, bytes, platforms };
      await layout.tag(tag, index);
      await copy(layout.dir, tag, repository, true);
      return index;
    },
    async stop() {
      if (child !== undefined && child.exitCode === null) {
        const exited = new Promise((resolve) => child?.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(work, { recursive: true, force: true });
    },
  };
}

export interface ProxiedRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

/** Answers a request itself (returns true) or lets the proxy forward it (returns false). */
export type ProxyIntercept = (req: ProxiedRequest, res: ServerResponse) => boolean | Promise<boolean>;

export interface TestProxy {
  readonly host: string;
  readonly url: string;
  /** Every request the proxy received, in order. */
  readonly requests: ProxiedRequest[];
  stop(): Promise<void>;
}

/**
 * A tiny HTTP server for the misbehaviour a real registry cannot produce (tampered bytes, oversized
 * manifests, foreign redirects, hangs, paginated tag lists). Without an intercept, or when the intercept
 * returns false, it forwards to `target` (a registry URL) and rewrites the registry's own URLs to itself.
 * With no target it answers 404 to anything not intercepted.
 */
export async function startProxy(target: string | undefined, intercept?: ProxyIntercept): Promise<TestProxy> {
  const requests: ProxiedRequest[] = [];
  let self = '';
  const sockets = new Set<Socket>();
  const server = createHttpServer(async (req, res) => {
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const proxied = {
        method: req.method ?? 'GET',
        url: new URL(req.url ?? '/', self),
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      requests.push(proxied);
      if (intercept !== undefined && (await intercept(proxied, res))) return;
      if (target === undefined) {
        res.writeHead(404).end();
        return;
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) {
        if (typeof v === 'string' && !['host', 'connection', 'content-length', 'accept-encoding'].includes(k))
          headers[k] = v;
      }
      const upstream = await fetch(new URL(`${proxied.url.pathname}${proxied.url.search}`, target), {
        method: proxied.method,
        headers,
        redirect: 'manual',
        ...(proxied.body.length > 0 ? { body: proxied.body } : {}),
      });
      const body = Buffer.from(await upstream.arrayBuffer());
      const out: Record<string, string> = {};
      upstream.headers.forEach((value, key) => {
        if (
          !['content-length', 'content-encoding', 'connection', 'transfer-encoding', 'keep-alive'].includes(
            key,
          )
        ) {
          out[key] = value.replaceAll(target, self);
        }
      });
      if (proxied.method === 'HEAD') {
        const length = upstream.headers.get('content-length');
        if (length !== null) out['content-length'] = length;
      }
      res.writeHead(upstream.status, out).end(proxied.method === 'HEAD' ? undefined : body);
    } catch (err) {
      res.writeHead(502).end(String(err));
    }
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  self = `http://127.0.0.1:${port}`;
  return {
    host: `127.0.0.1:${port}`,
    url: self,
    requests,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
