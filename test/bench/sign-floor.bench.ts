/**
 * `npm run bench:sign-floor [-- --calls 300]`: the CPU a signing costs before any sigsentry code
 * runs, against issue 9's 5 ms per signing.
 *
 * Each dependency call a signing cannot do without is made on its own, with no sigsentry code
 * around it (sign-floor-instance.ts, in signOnPush's deployed memory): a Cloud KMS asymmetricSign
 * and Firestore writes with the Google client libraries the product must use, a Rekor entry and
 * registry reads and uploads with node:http, Node's cheapest HTTP client. The Functions Framework's
 * own cost per Pub/Sub push is measured on a function that does nothing, beside a bare node:http
 * server that parses the same body. Two floors are summed from them: the fewest calls one signing
 * in one format could make, and the fewest that what the product asks of a signing (both formats,
 * exactly once) needs; sigsentry makes about 29.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { isListening, pickFreePort, waitFor } from '../../emulators/stack/ports.ts';
import { envFile, PROJECT_ROOT, stackDown, stackUp } from '../../emulators/stack/stack.ts';
import { runAsInstance } from './instance.ts';
import { onInterrupt } from './interrupt.ts';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '300' },
    pushes: { type: 'string', default: '2000' },
  },
});
const CALLS = Number(values.calls);
const PUSHES = Number(values.pushes);

/** utime + stime of one process, in ms (/proc ticks are 10 ms, so count many requests). */
function processCpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** A Pub/Sub push of a `gcr` INSERT, as the push subscription delivers it. */
const pushBody = (i: number) =>
  JSON.stringify({
    message: {
      data: Buffer.from(
        JSON.stringify({
          action: 'INSERT',
          digest: `127.0.0.1:5000/app@sha256:${'0'.repeat(60)}${String(i).padStart(4, '0')}`,
          tag: '127.0.0.1:5000/app:v1',
        }),
      ).toString('base64'),
      attributes: {},
      messageId: String(i),
      publishTime: new Date().toISOString(),
    },
    subscription: 'projects/bench/subscriptions/gcr-push',
  });

/** CPU per push of the server `args` starts on a free port, after a warm-up, one push at a time. */
async function serverCpuPerPush(name: string, args: (port: number) => string[]) {
  const port = await pickFreePort();
  const child = spawn(process.execPath, args(port), {
    stdio: ['ignore', 'ignore', 'inherit'],
    detached: true,
  });
  const stop = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {}
  };
  const forget = onInterrupt(stop);
  try {
    await waitFor(`${name} listening`, () => isListening(port), { timeoutMs: 30_000 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const post = (i: number) =>
      new Promise<void>((resolve, reject) => {
        const req = http.request(
          `http://127.0.0.1:${port}/projects/bench/topics/gcr`,
          { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
          (res) => {
            res
              .resume()
              .on('end', () =>
                res.statusCode! < 300 ? resolve() : reject(new Error(`${name}: ${res.statusCode}`)),
              );
          },
        );
        req.on('error', reject).end(pushBody(i));
      });
    for (let i = 0; i < 200; i++) await post(i);
    const before = processCpuMs(child.pid!);
    for (let i = 0; i < PUSHES; i++) await post(i);
    const cpuMs = (processCpuMs(child.pid!) - before) / PUSHES;
    agent.destroy();
    return Number(cpuMs.toFixed(3));
  } finally {
    stop();
    forget();
  }
}

const BARE_SERVER = `
import http from 'node:http';
http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c)).on('end', () => {
    const push = JSON.parse(Buffer.concat(chunks).toString());
    JSON.parse(Buffer.from(push.message.data, 'base64').toString());
    res.writeHead(204).end();
  });
}).listen(Number(process.argv.at(-1)), '127.0.0.1');
`;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sigsentry-floor-'));
onInterrupt(() => stackDown(dir));
const result = await (async () => {
  await stackUp({ dir, ports: 'free' });
  try {
    const instance = await runAsInstance(
      'signOnPush',
      path.join(PROJECT_ROOT, 'test', 'bench', 'sign-floor-instance.ts'),
      [envFile(dir), String(CALLS)],
    );
    const calls = JSON.parse(instance.stdout) as Record<string, { cpuMs: number; wallMs: number }>;
    const functionsFramework = await serverCpuPerPush('functions-framework', (port) => [
      `--import=${path.join(PROJECT_ROOT, 'emulators', 'stack', 'listen-on-loopback.ts')}`,
      path.join(PROJECT_ROOT, 'node_modules', '.bin', 'functions-framework'),
      '--target=nullEvent',
      '--signature-type=cloudevent',
      `--source=${path.join(PROJECT_ROOT, 'test', 'bench', 'null-function.ts')}`,
      `--port=${port}`,
    ]);
    const bareHttp = await serverCpuPerPush('node:http', (port) => [
      '--input-type=module',
      '-e',
      BARE_SERVER,
      String(port),
    ]);
    const cpu = (name: string) => calls[name]!.cpuMs;
    // The fewest calls one signing in one format can make: the push received, the manifest read
    // (its digest checked), one KMS signature, one log entry, the signature's blob uploaded and its
    // manifest put, and one Firestore write, with no record of progress between them.
    const oneFormat = {
      pushReceived: functionsFramework,
      registryManifestGet: cpu('registryManifestGet'),
      kmsAsymmetricSign: cpu('kmsAsymmetricSign'),
      rekorCreateEntry: cpu('rekorCreateEntry'),
      registryBlobUpload: cpu('registryBlobUpload'),
      registryManifestPut: cpu('registryManifestPut'),
      firestoreCreate: cpu('firestoreCreate'),
    };
    // What the product asks of every signing, at the fewest calls: both formats cosign verify reads
    // (a signature, a log entry, a blob and a manifest each), and exactly once across crashes (the
    // record claimed, the signatures recorded before the log is asked, the attachment recorded).
    const bothFormatsExactlyOnce = {
      ...oneFormat,
      kmsAsymmetricSign: 2 * cpu('kmsAsymmetricSign'),
      rekorCreateEntry: 2 * cpu('rekorCreateEntry'),
      registryBlobUpload: 2 * cpu('registryBlobUpload'),
      registryManifestPut: 2 * cpu('registryManifestPut'),
      firestoreConditionedUpdate: 2 * cpu('firestoreConditionedUpdate'),
    };
    const sum = (parts: Record<string, number>) =>
      Number(
        Object.values(parts)
          .reduce((a, b) => a + b, 0)
          .toFixed(2),
      );
    return {
      target: 'signOnPush: function CPU <= 5 ms per signing (issue 9)',
      callsEach: CALLS,
      cpuMsPerCall: calls,
      pushReceivedCpuMs: { functionsFramework, bareNodeHttp: bareHttp, pushes: PUSHES },
      floorCpuMsPerSigning: {
        oneFormatNoProgress: sum(oneFormat),
        bothFormatsExactlyOnce: sum(bothFormatsExactlyOnce),
      },
      parts: { oneFormat, bothFormatsExactlyOnce },
      instanceMemory: instance.memory,
    };
  } finally {
    await stackDown(dir);
  }
})();
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
