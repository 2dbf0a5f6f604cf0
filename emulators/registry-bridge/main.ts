/** `node emulators/registry-bridge/main.ts --port N --registry-host HOST:PORT --project P --topic gcr` */
import { parseArgs } from 'node:util';
import { PubSub } from '@google-cloud/pubsub';
import { createLogger } from '../../functions/logging/logger.ts';
import { startBridge } from './server.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'registry-host': { type: 'string' },
    project: { type: 'string', default: process.env.GCP_PROJECT ?? 'sigsentry-local' },
    topic: { type: 'string', default: 'gcr' },
  },
});
if (!values['registry-host']) throw new Error('--registry-host is required');
if (!process.env.PUBSUB_EMULATOR_HOST)
  throw new Error('PUBSUB_EMULATOR_HOST must point at the Pub/Sub emulator');

const logger = createLogger({ component: 'registry-bridge' });
// The registry hands the bridge one event at a time and waits for its answer, so each event is
// published at once: the client's default 10 ms batching window would be spent on every event in
// turn, and a burst of pushes would queue in the registry (Artifact Registry publishes at once).
const topic = new PubSub({ projectId: values.project }).topic(values.topic, {
  batching: { maxMessages: 1 },
});
const bridge = await startBridge({
  port: Number(values.port),
  registryHost: values['registry-host'],
  publisher: { publish: (data) => topic.publishMessage({ data }) },
  logger,
});
logger.info('registry bridge listening', { url: bridge.url, ready: true });
const stop = async () => {
  await bridge.close();
  await topic.pubsub.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
