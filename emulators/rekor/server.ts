import { createHash, createPublicKey } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { badRequest, RekorHttpError } from './errors.ts';
import { createFaultController, type FaultController, takeError } from './faults.ts';
import { loadKeys } from './keys.ts';
import { parseVerifierPem } from './kinds.ts';
import { RekorV2Log } from './log-v2.ts';
import { createV2Routes } from './routes-v2.ts';
import { RekorV1Shards } from './shards-v1.ts';
import { LogStore } from './store.ts';

export interface RekorServerOptions {
  port?: number;
  host?: '127.0.0.1';
  dataDir: string;
  /**
   * Key name in checkpoint origins and signature lines. Defaults to the listening host, because
   * sigstore-js accepts a checkpoint signature only when its name is part of the log's base URL.
   */
  hostname?: string;
  /**
   * Rekor v2 checkpoint origin and key name (the public log uses its host, log2025-1.rekor.sigstore.dev).
   * Defaults to `hostname`, for the same reason: sigstore-js matches the name against the base URL.
   */
  v2Origin?: string;
  /** The v1 log as after a shard rotation: a frozen shard of this many entries precedes its tree. */
  v1InactiveShardSize?: number;
}

export interface RekorServer {
  url: string;
  /** The v1 log key (ECDSA P-256), PEM SubjectPublicKeyInfo. */
  publicKeyPem: string;
  /** The v2 (rekor-tiles) checkpoint key (Ed25519), PEM SubjectPublicKeyInfo. */
  v2PublicKeyPem: string;
  /** The v2 checkpoint origin, which is also its signed-note key name. */
  v2Origin: string;
  /** The v2 log ID: SHA-256 signed-note key ID of (v2Origin, key), as TransparencyLogEntry.logId carries it. */
  v2LogId: Buffer;
  faults: FaultController;
  /**
   * Rotates the v1 log's shard, as the public log's operators do (also `POST /__rotate`): the active
   * tree is frozen and listed in log info, and new entries go to a new tree numbered on from it.
   */
  rotateV1(): { frozenTreeId: string; frozenTreeSize: number; treeId: string };
  close(): Promise<void>;
}

const MAX_BODY = 32 * 1024 * 1024;
const MAX_RETRIEVE = 10; // Rekor's limit on entries per batch request

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new RekorHttpError(413, 'request body too large');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw badRequest('request body is not JSON');
  }
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': typeof body === 'string' ? 'application/x-pem-file' : 'application/json',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function intParam(url: URL, name: string, fallback?: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null) {
    if (fallback !== undefined) return fallback;
    throw badRequest(`missing query parameter ${name}`);
  }
  if (!/^\d+$/.test(raw)) throw badRequest(`${name} must be a non-negative integer`);
  return Number(raw);
}

/** Starts the Rekor-compatible log on loopback. */
export async function startRekorServer(options: RekorServerOptions): Promise<RekorServer> {
  mkdirSync(options.dataDir, { recursive: true });
  const keys = loadKeys(options.dataDir);
  const faults = createFaultController();
  const hostname = options.hostname ?? options.host ?? '127.0.0.1';
  const v1 = new RekorV1Shards({
    dataDir: options.dataDir,
    key: keys.v1,
    treeId: keys.treeId,
    hostname,
    faults,
    ...(options.v1InactiveShardSize !== undefined ? { listedShardSize: options.v1InactiveShardSize } : {}),
  });
  const publicKeyPem = createPublicKey(keys.v1).export({ format: 'pem', type: 'spki' }).toString();
  // The v2 tree lives apart from v1's, in its own folder, as a separate log would.
  const v2Store = new LogStore(join(options.dataDir, 'v2'));
  const v2 = new RekorV2Log({ store: v2Store, key: keys.v2, origin: options.v2Origin ?? hostname, faults });
  const v2Routes = createV2Routes(v2, readJson);
  const v2PublicKeyPem = createPublicKey(keys.v2).export({ format: 'pem', type: 'spki' }).toString();

  const asMap = (e: { uuid: string; entry: Record<string, unknown> }): Record<string, unknown> => ({
    [e.uuid]: e.entry,
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const method = req.method ?? 'GET';

    if (path === '/__faults') {
      if (method === 'POST') faults.set((await readJson(req)) as Record<string, never>);
      else if (method === 'DELETE') faults.clear();
      return send(res, 200, faults.current);
    }
    if (path === '/__rotate' && method === 'POST') return send(res, 200, v1.rotate());

    const status = takeError(faults);
    const delay = faults.current.delayMs;
    if (delay !== undefined && delay > 0) await sleep(delay);
    if (status !== undefined) {
      // A rate limit answers as the public log's front end does: 429 with a Retry-After.
      throw new RekorHttpError(
        status,
        'injected failure',
        status === 429 ? { 'Retry-After': '1' } : undefined,
      );
    }

    if (await v2Routes(req, res, path, method)) return;

    if (method === 'POST' && path === '/api/v1/log/entries') {
      const created = v1.create(await readJson(req));
      return send(res, 201, asMap(created), {
        Location: `/api/v1/log/entries/${created.uuid}`,
        ETag: created.uuid,
      });
    }
    if (method === 'GET' && path === '/api/v1/log/entries') {
      const found = v1.byIndex(intParam(url, 'logIndex'));
      if (found === undefined) throw new RekorHttpError(404, 'entry not found');
      return send(res, 200, asMap(found));
    }
    if (method === 'POST' && path === '/api/v1/log/entries/retrieve') {
      const q = (await readJson(req)) as { entryUUIDs?: unknown; logIndexes?: unknown; entries?: unknown };
      const uuids = Array.isArray(q.entryUUIDs) ? q.entryUUIDs : [];
      const indexes = Array.isArray(q.logIndexes) ? q.logIndexes : [];
      if (Array.isArray(q.entries) && q.entries.length > 0)
        throw badRequest('search by entry is not supported');
      if (uuids.length + indexes.length > MAX_RETRIEVE)
        throw badRequest(`at most ${MAX_RETRIEVE} entries per request`);
      const out: Record<string, unknown>[] = [];
      for (const u of uuids) {
        if (typeof u !== 'string') throw badRequest('entryUUIDs must be strings');
        const e = v1.byUuid(u);
        if (e !== undefined) out.push(asMap(e));
      }
      for (const i of indexes) {
        if (!Number.isSafeInteger(i) || (i as number) < 0)
          throw badRequest('logIndexes must be non-negative integers');
        const e = v1.byIndex(i as number);
        if (e !== undefined) out.push(asMap(e));
      }
      return send(res, 200, out);
    }
    const byUuid = /^\/api\/v1\/log\/entries\/([0-9a-fA-F]+)$/.exec(path);
    if (method === 'GET' && byUuid !== null) {
      const found = v1.byUuid(byUuid[1]!);
      if (found === undefined) throw new RekorHttpError(404, 'entry not found');
      return send(res, 200, asMap(found));
    }
    if (method === 'GET' && path === '/api/v1/log') return send(res, 200, v1.logInfo());
    if (method === 'GET' && path === '/api/v1/log/proof') {
      const treeId = url.searchParams.get('treeID') ?? undefined;
      if (treeId !== undefined && !/^[0-9]+$/.test(treeId)) throw badRequest('treeID must be digits');
      return send(res, 200, v1.consistency(intParam(url, 'firstSize', 1), intParam(url, 'lastSize'), treeId));
    }
    if (method === 'GET' && path === '/api/v1/log/publicKey') return send(res, 200, publicKeyPem);
    if (method === 'POST' && path === '/api/v1/index/retrieve') {
      const q = (await readJson(req)) as { hash?: unknown; publicKey?: { content?: unknown } };
      const found = new Map<string, number>();
      const add = (key: string) => {
        for (const e of v1.search(key)) found.set(e.uuid, e.entry.logIndex as number);
      };
      if (typeof q.hash === 'string') {
        const h = q.hash.toLowerCase();
        add(h.includes(':') ? h : `sha256:${h}`);
      }
      if (q.publicKey?.content !== undefined) {
        const content = String(q.publicKey.content);
        const pem = content.includes('-----BEGIN') ? Buffer.from(content) : Buffer.from(content, 'base64');
        add(parseVerifierPem(pem, 'publicKey.content').keyId);
      }
      if (q.hash === undefined && q.publicKey === undefined) throw badRequest('give a hash or a publicKey');
      const uuids = [...found].sort((a, b) => a[1] - b[1]).map(([uuid]) => uuid);
      return send(res, 200, uuids);
    }
    throw new RekorHttpError(404, `no route for ${method} ${path}`);
  }

  const server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      const e = err instanceof RekorHttpError ? err : new RekorHttpError(500, 'internal error');
      if (!(err instanceof RekorHttpError)) process.emitWarning(`rekor emulator: ${String(err)}`);
      if (!res.headersSent) send(res, e.status, e.body ?? { code: e.status, message: e.message }, e.headers);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closed = false;
  return {
    url: `http://127.0.0.1:${port}`,
    publicKeyPem,
    v2PublicKeyPem,
    v2Origin: v2.origin,
    v2LogId: v2.logId,
    faults,
    rotateV1: () => v1.rotate(),
    async close() {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      v1.close();
      v2Store.close();
    },
  };
}

/** Exposed for tests that want the log ID without parsing PEM. */
export function logIdOf(publicKeyPem: string): string {
  return createHash('sha256')
    .update(createPublicKey(publicKeyPem).export({ format: 'der', type: 'spki' }))
    .digest('hex');
}
