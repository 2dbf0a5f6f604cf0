/**
 * The Cloud KMS client. In production it is the stock client (Application Default Credentials,
 * TLS to cloudkms.googleapis.com). When KMS_ENDPOINT names a host:port (the local emulator), the
 * same client speaks plaintext gRPC to it with no credentials at all: the emulator is loopback
 * only, and no token is ever sent anywhere but Google.
 */
import { KeyManagementServiceClient } from '@google-cloud/kms';
import { credentials } from '@grpc/grpc-js';
import { InvalidInputError } from '../errors.ts';

export interface KmsClientOptions {
  /** host:port override; defaults to process.env.KMS_ENDPOINT. Empty means the real service. */
  endpoint?: string;
}

/** Splits 'host:port' or '[v6]:port'. */
export function parseEndpoint(endpoint: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(endpoint.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port < 1 || port > 65535) {
    throw new InvalidInputError(`KMS endpoint must be host:port, got ${JSON.stringify(endpoint)}`, {
      endpoint,
    });
  }
  return { host: (m[1] ?? m[2])!, port };
}

export function createKmsClient(options: KmsClientOptions = {}): KeyManagementServiceClient {
  const endpoint = options.endpoint ?? process.env['KMS_ENDPOINT'] ?? '';
  if (endpoint === '') return new KeyManagementServiceClient();
  const { host, port } = parseEndpoint(endpoint);
  return new KeyManagementServiceClient({
    apiEndpoint: host,
    port,
    sslCreds: credentials.createInsecure(),
    // Without a stated universe the auth library asks the GCE metadata server for one, a network
    // probe that has no business happening against a local endpoint.
    clientOptions: { universeDomain: 'googleapis.com' },
  });
}
