/**
 * A loopback HTTP server whose every answer a test chooses (`answer`), keeping what it was asked:
 * a log or CDN that misbehaves on purpose.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Answer = (req: IncomingMessage, res: ServerResponse) => void;

export class AnsweringServer {
  /** Each request's path with its query, and its Accept-Encoding. */
  readonly asked: { path: string; acceptEncoding: string | undefined }[] = [];
  answer: Answer = (_req, res) => res.writeHead(404).end();
  private readonly server: Server = createServer((req, res) => {
    this.asked.push({ path: req.url ?? '', acceptEncoding: req.headers['accept-encoding'] });
    this.answer(req, res);
  });

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The paths asked for, without their query. */
  get paths(): string[] {
    return this.asked.map(({ path }) => new URL(path, 'http://x').pathname);
  }

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}
