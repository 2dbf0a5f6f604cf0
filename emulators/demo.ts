/**
 * `npm run demo`: the whole story on this machine's embedded defaults. Brings the local stack up
 * in a fresh directory, pushes a sample image with skopeo, shows what signOnPush receives, and
 * stops the stack whatever happens.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { makeOciImage } from './sample-image.ts';
import { envFile, stackDown, stackUp } from './stack/stack.ts';

const run = promisify(execFile);
const step = (n: number, text: string) => process.stdout.write(`\n[${n}] ${text}\n`);
const say = (text: string) => process.stdout.write(`    ${text}\n`);

async function waitForLine(
  file: string,
  match: (entry: Record<string, unknown>) => boolean,
  timeoutMs = 20_000,
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const line of fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n') : []) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (match(entry)) return entry;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing matching appeared in ${file} within ${timeoutMs} ms`);
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sigsentry-demo-'));
  const started = Date.now();
  step(1, 'Bringing up the local stack: Firestore and Pub/Sub emulators, docker-registry, the functions');
  try {
    const { env } = await stackUp({ dir, ports: 'free', log: say });
    say(`stack environment: ${envFile(dir)}`);

    step(2, 'Pushing a sample image with skopeo, as a CI pipeline would');
    const sample = makeOciImage({
      tag: 'v1',
      dir: path.join(dir, 'sample-image'),
      content: 'hello from the demo',
    });
    const image = `${env.REGISTRY}/team/app:v1`;
    await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', sample.source, `docker://${image}`]);
    say(`pushed ${image}`);

    step(3, 'The registry notification arrives on topic gcr and reaches signOnPush as a CloudEvent');
    const entry = await waitForLine(
      path.join(dir, 'logs', 'function-signOnPush.log'),
      (e) => e.message === 'received gcr event' && (e.gcr as { tag?: string } | undefined)?.tag === image,
    );
    say(`signOnPush received (validated): ${JSON.stringify(entry.gcr)}`);
  } finally {
    step(4, 'Stopping the stack');
    const { stopped, stillListening } = await stackDown(dir);
    say(
      `stopped ${stopped.join(', ')}${stillListening.length ? `; STILL LISTENING: ${stillListening}` : ''}`,
    );
    say(`done in ${((Date.now() - started) / 1000).toFixed(1)} s; logs kept in ${path.join(dir, 'logs')}`);
  }
}

main().catch((err) => {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  process.exit(1);
});
