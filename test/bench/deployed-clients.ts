/**
 * The Google clients a deployed monitorLog or reverifyImages run has called (Firestore for its
 * state, KMS for the owned keys, Pub/Sub for alerts), as the libraries build them on a first call:
 * a bench instance whose state and alerts are in memory holds them too, so that its heap and RSS
 * are a deployed instance's. Merely constructed, the Firestore and Pub/Sub clients hold nothing.
 *
 * Initialised (gRPC stubs made, protos loaded: 8.8 MB of heap) against a closed loopback port, and
 * never called: a first call to each holds about 3 MB more (11.9 MB, measured against a closed
 * port), which this leaves out. Firestore's gRPC client is only reachable through CommonJS.
 */
import { createRequire } from 'node:module';
import { v1 as pubsubV1 } from '@google-cloud/pubsub';
import { credentials } from '@grpc/grpc-js';
import { createKmsClient } from '../../functions/signing/kms-client.ts';

/** The initialised clients, and how to close them once the measurement is over. */
export async function holdDeployedClients(): Promise<{ close(): Promise<void> }> {
  const closedPort = { servicePath: '127.0.0.1', port: 9, sslCreds: credentials.createInsecure() };
  const firestoreV1 = (
    createRequire(import.meta.url)('@google-cloud/firestore') as typeof import('@google-cloud/firestore')
  ).v1;
  const clients = [
    new firestoreV1.FirestoreClient(closedPort),
    new pubsubV1.PublisherClient(closedPort),
    createKmsClient({ endpoint: `${closedPort.servicePath}:${closedPort.port}` }),
  ];
  await Promise.all(clients.map((c) => c.initialize()));
  return {
    async close() {
      await Promise.all(clients.map((c) => c.close()));
    },
  };
}
