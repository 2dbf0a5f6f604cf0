/**
 * Test harness: a KMS emulator in-process on a free loopback port, in a fresh data directory,
 * and real @google-cloud/kms clients pointed at it. Everything is closed by `stop()`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { KeyManagementServiceClient } from '@google-cloud/kms';
import { type KmsEmulator, startKmsEmulator } from '../../../emulators/kms/server.ts';
import { createKmsClient } from '../../../functions/signing/kms-client.ts';

export const PROJECT = 'sigsentry-test';
export const LOCATION = 'us-central1';

export interface Harness {
  emulator: KmsEmulator;
  client: KeyManagementServiceClient;
  dataDir: string;
  /** A new client on the current emulator (a fresh public-key cache). */
  newClient(): KeyManagementServiceClient;
  /** Closes the emulator and starts a new one on the same data directory (a new port). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'sigsentry-kms-'));
  const clients: KeyManagementServiceClient[] = [];
  const harness: Harness = {
    emulator: await startKmsEmulator({ dataDir }),
    client: undefined as unknown as KeyManagementServiceClient,
    dataDir,
    newClient() {
      const client = createKmsClient({ endpoint: harness.emulator.endpoint });
      clients.push(client);
      return client;
    },
    async restart() {
      await harness.emulator.close();
      harness.emulator = await startKmsEmulator({ dataDir });
      harness.client = harness.newClient();
    },
    async stop() {
      await Promise.all(clients.map((c) => c.close()));
      await harness.emulator.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  harness.client = harness.newClient();
  return harness;
}

export function grpcCode(err: unknown): number | undefined {
  return (err as { code?: number } | null)?.code;
}
