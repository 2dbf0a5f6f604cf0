import { parseArgs } from 'node:util';
import { startRekorServer } from './server.ts';

/** CLI: `node emulators/rekor/main.ts --port N --data-dir DIR`; prints one JSON ready line. */
const { values } = parseArgs({
  options: { port: { type: 'string', default: '0' }, 'data-dir': { type: 'string' } },
});
if (values['data-dir'] === undefined) {
  process.stderr.write('usage: node emulators/rekor/main.ts --port N --data-dir DIR\n');
  process.exit(2);
}
const server = await startRekorServer({ port: Number(values.port), dataDir: values['data-dir'] });
process.stdout.write(
  `${JSON.stringify({
    ready: true,
    url: server.url,
    publicKeyPem: server.publicKeyPem,
    v2PublicKeyPem: server.v2PublicKeyPem,
    v2Origin: server.v2Origin,
  })}\n`,
);
const stop = (): void => {
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
