/**
 * `npm run demo`: the whole story on this machine's embedded defaults (local stack, the KMS
 * emulator's key, the local Rekor log); demo-scenario.ts has the steps. The stack is brought up in
 * a fresh directory and stopped whatever happens.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runDemoScenario } from './demo-scenario.ts';
import { envFile, stackDown, stackUp } from './stack/stack.ts';

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
const step = (n: number, text: string) => process.stdout.write(`\n[${n}] ${text}  (${elapsed()})\n`);
const say = (text: string) => process.stdout.write(`    ${text}\n`);

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sigsentry-demo-'));
  step(
    0,
    'Local stack: Firestore and Pub/Sub emulators, docker-registry + gcr bridge, KMS and Rekor emulators, the functions',
  );
  try {
    const { env: stack } = await stackUp({ dir, ports: 'free', log: say });
    say(`signing key: ${stack.KMS_KEY}`);
    say(`stack environment: ${envFile(dir)}`);
    await runDemoScenario({
      stack,
      stackEnvFile: envFile(dir),
      workDir: dir,
      repository: 'team/app',
      step,
      say,
    });
  } finally {
    step(6, 'Stopping the stack');
    const { stopped, stillListening } = await stackDown(dir);
    say(
      `stopped ${stopped.join(', ')}${stillListening.length ? `; STILL LISTENING: ${stillListening}` : ''}`,
    );
    say(`done in ${elapsed()}; logs kept in ${path.join(dir, 'logs')}`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`demo failed: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
