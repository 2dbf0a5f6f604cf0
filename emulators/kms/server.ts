/**
 * Starts the KMS emulator: the KeyManagementService over gRPC (loaded from the protos that ship
 * with @google-cloud/kms, so the wire format is the real client's), plus a small HTTP admin port
 * for fault injection from other processes:
 *   GET /faults, PUT /faults (JSON FaultSettings, merged), DELETE /faults, GET /calls.
 */
import {
  createServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import {
  loadPackageDefinition,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServiceDefinition,
  type sendUnaryData,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { Faults } from './faults.ts';
import { IMPLEMENTED_METHODS, KmsService, RpcError } from './service.ts';
import { KmsStore } from './store.ts';

export interface KmsEmulatorOptions {
  /** gRPC port; 0 or absent picks a free one. */
  port?: number;
  host?: '127.0.0.1';
  dataDir: string;
  /** Admin HTTP port; 0 or absent picks a free one. */
  adminPort?: number;
}

export interface KmsEmulator {
  /** host:port of the gRPC server, the form KMS_ENDPOINT takes. */
  endpoint: string;
  /** Base URL of the admin HTTP port. */
  adminUrl: string;
  faults: Faults;
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);

function loadServiceDefinition(): ServiceDefinition {
  // Both packages' entry points live in build/src; their protos in build/protos.
  const kmsEntry = require.resolve('@google-cloud/kms');
  const kmsRoot = path.resolve(path.dirname(kmsEntry), '..', 'protos');
  const gaxRoot = path.resolve(
    path.dirname(require.resolve('google-gax', { paths: [kmsEntry] })),
    '..',
    'protos',
  );
  const definition = loadSync('google/cloud/kms/v1/service.proto', {
    includeDirs: [kmsRoot, gaxRoot],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  // biome-ignore lint/suspicious/noExplicitAny: the loaded package is an untyped object tree.
  const pkg = loadPackageDefinition(definition) as any;
  return pkg.google.cloud.kms.v1.KeyManagementService.service as ServiceDefinition;
}

// An injected delay ends early when the client gives up (deadline, cancel) on the call.
function delay(ms: number, call: ServerUnaryCall<unknown, unknown>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      call.off('cancelled', done);
      resolve();
    }
    call.once('cancelled', done);
  });
}

function implementation(service: KmsService, faults: Faults): UntypedServiceImplementation {
  const impl: UntypedServiceImplementation = {};
  for (const method of IMPLEMENTED_METHODS) {
    impl[method] = (
      call: ServerUnaryCall<Record<string, unknown>, unknown>,
      callback: sendUnaryData<unknown>,
    ) => {
      faults.countCall(method);
      const run = async () => {
        if (faults.delayMs > 0) await delay(faults.delayMs, call);
        if (faults.takeUnavailable(method)) {
          throw new RpcError(status.UNAVAILABLE, 'The service is currently unavailable.');
        }
        return service[method](call.request);
      };
      run().then(
        (response) => callback(null, response),
        (err: unknown) => {
          if (err instanceof RpcError) callback({ code: err.code, details: err.message });
          else callback({ code: status.INTERNAL, details: `Internal error: ${String(err)}` });
        },
      );
    };
  }
  return impl;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function adminHandler(faults: Faults) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const reply = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const url = new URL(req.url ?? '/', 'http://admin');
    if (url.pathname === '/calls' && req.method === 'GET') return reply(200, faults.calls);
    if (url.pathname !== '/faults') return reply(404, { error: 'not found' });
    if (req.method === 'GET') return reply(200, faults.current());
    if (req.method === 'DELETE') {
      faults.clear();
      return reply(200, faults.current());
    }
    if (req.method === 'PUT' || req.method === 'POST') {
      readBody(req).then(
        (text) => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            return reply(400, { error: 'body is not JSON' });
          }
          if (!Faults.isValid(parsed)) return reply(400, { error: 'not a valid FaultSettings object' });
          faults.set(parsed);
          reply(200, faults.current());
        },
        () => reply(400, { error: 'unreadable body' }),
      );
      return;
    }
    reply(405, { error: 'method not allowed' });
  };
}

export async function startKmsEmulator(options: KmsEmulatorOptions): Promise<KmsEmulator> {
  const host = options.host ?? '127.0.0.1';
  const store = await KmsStore.open(options.dataDir);
  const faults = new Faults();
  const server = new Server();
  server.addService(loadServiceDefinition(), implementation(new KmsService(store, faults), faults));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${options.port ?? 0}`, ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );

  const admin: HttpServer = createServer(adminHandler(faults));
  await new Promise<void>((resolve, reject) => {
    admin.once('error', reject);
    admin.listen(options.adminPort ?? 0, host, () => resolve());
  });
  const adminPort = (admin.address() as AddressInfo).port;

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await new Promise<void>((resolve) => {
        // Open client channels must not keep a test waiting: force after a grace period.
        const timer = setTimeout(() => server.forceShutdown(), 2000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      admin.closeAllConnections();
      await new Promise<void>((resolve) => admin.close(() => resolve()));
      await store.save();
    })();
    return closing;
  };

  return { endpoint: `${host}:${port}`, adminUrl: `http://${host}:${adminPort}`, faults, close };
}
