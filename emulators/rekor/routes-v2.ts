import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { parseTilePath } from '../../functions/tlog/tiles/path.ts';
import { GRPC_NOT_FOUND, grpcError } from './errors.ts';
import type { RekorV2Log } from './log-v2.ts';

/** Tiles and bundles never change once served: cache them for a year. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

function write(res: ServerResponse, status: number, body: Buffer, headers: Record<string, string>): void {
  res.writeHead(status, { 'Content-Length': body.length, ...headers });
  res.end(body);
}

/**
 * The Rekor v2 HTTP surface: `POST /api/v2/log/entries` and the C2SP tlog-tiles read API at the
 * log's prefix (`/checkpoint`, `/tile/<L>/<N>[.p/<W>]`, `/tile/entries/<N>[.p/<W>]`), also under
 * `/api/v2/`, where rekor-tiles' own HTTP server answers them. Returns false for other paths.
 */
export function createV2Routes(
  log: RekorV2Log,
  readJson: (req: IncomingMessage) => Promise<unknown>,
): (req: IncomingMessage, res: ServerResponse, path: string, method: string) => Promise<boolean> {
  return async (req, res, path, method) => {
    if (method === 'POST' && path === '/api/v2/log/entries') {
      const entry = log.create(await readJson(req));
      write(res, 201, Buffer.from(JSON.stringify(entry)), { 'Content-Type': 'application/json' });
      return true;
    }
    if (method !== 'GET') return false;
    const rel = path.startsWith('/api/v2/') ? path.slice('/api/v2/'.length) : path.slice(1);
    if (rel === 'checkpoint') {
      write(res, 200, Buffer.from(log.checkpoint().note), {
        'Content-Type': 'text/plain; charset=utf-8',
        'Cache-Control': 'no-cache',
      });
      return true;
    }
    if (!rel.startsWith('tile/')) return false;
    const ref = parseTilePath(rel);
    const body =
      ref === undefined
        ? undefined
        : ref.kind === 'entries'
          ? log.entryBundle(ref.index, ref.width)
          : log.tile(ref.level, ref.index, ref.width);
    if (body === undefined) throw grpcError(404, GRPC_NOT_FOUND, `${rel} not found`);
    const headers: Record<string, string> = {
      'Content-Type': 'application/octet-stream',
      'Cache-Control': IMMUTABLE,
    };
    // Entry bundles SHOULD be compressed at the HTTP layer (tlog-tiles).
    if (ref?.kind === 'entries' && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
      write(res, 200, gzipSync(body, { level: 1 }), { ...headers, 'Content-Encoding': 'gzip' });
      return true;
    }
    write(res, 200, body, headers);
    return true;
  };
}
