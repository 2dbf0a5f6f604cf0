/**
 * CLI: node emulators/kms/main.ts --port N --data-dir DIR [--admin-port M]
 * Prints one JSON line {"ready":true,"endpoint":"127.0.0.1:N","adminUrl":"http://127.0.0.1:M"} once
 * listening; exits 0 on SIGTERM or SIGINT after closing the servers and flushing state.
 */
import { parseArgs } from 'node:util';
import { startKmsEmulator } from './server.ts';

function usage(message: string): never {
  process.stderr.write(
    `${message}\nusage: node emulators/kms/main.ts --data-dir DIR [--port N] [--admin-port M]\n`,
  );
  process.exit(2);
}

function portOf(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) usage(`${flag} must be a port number`);
  return n;
}

let args: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      port: { type: 'string' },
      'admin-port': { type: 'string' },
      'data-dir': { type: 'string' },
    },
    strict: true,
  }).values;
}
try {
  args = parse();
} catch (err) {
  usage((err as Error).message);
}
const dataDir = args['data-dir'] ?? usage('--data-dir is required');

const emulator = await startKmsEmulator({
  dataDir,
  port: portOf(args.port, '--port'),
  adminPort: portOf(args['admin-port'], '--admin-port'),
});
process.stdout.write(
  `${JSON.stringify({ ready: true, endpoint: emulator.endpoint, adminUrl: emulator.adminUrl })}\n`,
);

const stop = () => {
  emulator.close().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
