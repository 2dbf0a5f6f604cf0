/**
 * The registry → Pub/Sub bridge: docker-registry POSTs its notification envelopes here and each
 * manifest event is published on topic `gcr`, as Artifact Registry would. A failed publish answers
 * 500 so the registry's own retry queue redelivers: at least once, like Artifact Registry.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../functions/logging/logger.ts';
import { RegistryEnvelopeSchema, toGcrMessage } from './translate.ts';

/** What GET /healthz answers: the stack checks it is the bridge that answers on the bridge's port. */
export const BRIDGE_HEALTH = 'registry-bridge ok';

export interface Publisher {
  publish(data: Buffer): Promise<string>;
}

export interface BridgeOptions {
  port: number;
  registryHost: string;
  publisher: Publisher;
  logger: Logger;
}

const MAX_BODY = 1 << 20;

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error('notification body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function startBridge(opts: BridgeOptions): Promise<{ url: string; close(): Promise<void> }> {
  const { logger } = opts;
  const server = http.createServer(async (req, res) => {
    if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200).end(BRIDGE_HEALTH);
      return;
    }
    if (req.method !== 'POST' || req.url !== '/events') {
      res.writeHead(404).end();
      return;
    }
    try {
      const envelope = RegistryEnvelopeSchema.parse(JSON.parse((await readBody(req)).toString('utf8')));
      const messages = envelope.events
        .map((e) => toGcrMessage(e, opts.registryHost))
        .filter((m) => m !== null);
      for (const message of messages) {
        const messageId = await opts.publisher.publish(Buffer.from(JSON.stringify(message)));
        logger.info('published gcr message', { messageId, gcr: message });
      }
      res.writeHead(200).end();
    } catch (err) {
      logger.error('could not bridge registry notification', { error: err });
      res.writeHead(500).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}
