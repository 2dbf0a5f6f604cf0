/**
 * `npm run bench:sign [-- --pushes 500] [--rate N]`: a burst of pushes against the local stack (or
 * N pushes started per second), measuring push→signed latency (push acknowledged by the registry →
 * signing record attached in Firestore) and where it is spent (registry notification and bridge,
 * Pub/Sub push delivery, the function), signings per second, the signOnPush process's CPU time per
 * signing (utime+stime from /proc, so waits on KMS, the log, the registry and Firestore are not
 * counted) and its peak RSS inside its deployed memory limit, and the cores each stack process used.
 * The functions run compiled, as deployed (`--from-source`: from the TypeScript source).
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { makeOciImage } from '../../emulators/sample-image.ts';
import { peakRssMiB } from '../../emulators/stack/memory-limit.ts';
import { readState, stackDown, stackStatus, stackUp } from '../../emulators/stack/stack.ts';
import { RegistryClient } from '../../functions/registry/client.ts';
import { recordId, SIGNING_RECORDS } from '../../functions/state/signing-records.ts';
import { compileInstanceScripts } from './compiled.ts';
import { cpuByCategory } from './cpu-profile.ts';
import { onInterrupt } from './interrupt.ts';

const { values } = parseArgs({
  options: {
    pushes: { type: 'string', default: '500' },
    concurrency: { type: 'string', default: '25' },
    sequential: { type: 'string', default: '20' },
    // Pushes started per second (0: as fast as the registry takes them, the burst).
    rate: { type: 'string', default: '0' },
    // The burst delivered to a function that does nothing: the stack's own push→delivered time.
    'null-function': { type: 'boolean', default: false },
    // The functions run from the TypeScript source, as the stack runs them for development,
    // instead of compiled, as deployed.
    'from-source': { type: 'boolean', default: false },
  },
});
const RATE = Number(values.rate);
const SEQUENTIAL = Number(values.sequential);
const PUSHES = Number(values.pushes);
const CONCURRENCY = Number(values.concurrency);

/** CPU milliseconds of every process in each of the stack's process groups (Java runs as a child). */
function groupCpuMs(groups: Array<{ name: string; pid: number }>): Record<string, number> {
  const byGroup = new Map(groups.map((g) => [g.pid, g.name]));
  const out: Record<string, number> = Object.fromEntries(groups.map((g) => [g.name, 0]));
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const name = byGroup.get(Number(fields[2])); // field 5: process group
    if (name !== undefined) out[name]! += ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  }
  return out;
}

/** The Pub/Sub emulator, through the client the stack's processes use. */
const emulatorPubSub = (env: Record<string, string | undefined>) =>
  new PubSub({ projectId: env.GCP_PROJECT!, apiEndpoint: env.PUBSUB_EMULATOR_HOST!, emulatorMode: true });

/** When the bridge published each digest's `gcr` event, from its log. */
const bridgePublished = () =>
  firstLogged(
    path.join(dir, 'logs', 'registry-bridge.log'),
    'published gcr message',
    (e) => (e['gcr'] as { digest?: string } | undefined)?.digest,
  );

/** Times (ms since the epoch) of each digest's first log line matching `message` in a JSON log. */
function firstLogged(logFile: string, message: string, digestOf: (line: Record<string, unknown>) => unknown) {
  const at = new Map<string, number>();
  for (const line of fs.readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.includes(message)) continue;
    const entry = JSON.parse(line) as Record<string, unknown>;
    const ref = digestOf(entry);
    if (typeof ref !== 'string' || !ref.includes('@')) continue;
    const digest = ref.slice(ref.indexOf('@') + 1);
    if (!at.has(digest)) at.set(digest, Date.parse(entry['time'] as string));
  }
  return at;
}

const stageSummary = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return { p50: pct(sorted, 50), p99: pct(sorted, 99), max: sorted.at(-1) };
};

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

interface Timing {
  totalMs: number;
  dependencyMs: number;
  ownMs: number;
  calls: number;
}

/** The `timing` of every 'image signed' line the function logged (DependencyClock), in order. */
function signingTimings(logFile: string): Timing[] {
  return fs
    .readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((line) => line.includes('"image signed"'))
    .map((line) => (JSON.parse(line) as { timing: Timing }).timing)
    .filter((t) => t !== undefined);
}

/** Median of the function's own latency over the round trips it waited on (issue 9: ≤ 20 %). */
function ownShare(timings: Timing[]) {
  const shares = timings.map((t) => t.ownMs / t.dependencyMs).sort((a, b) => a - b);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  return {
    signings: timings.length,
    medianTotalMs: median(timings.map((t) => t.totalMs)),
    medianDependencyMs: median(timings.map((t) => t.dependencyMs)),
    medianOwnMs: median(timings.map((t) => t.ownMs)),
    dependencyCallsPerSigning: median(timings.map((t) => t.calls)),
    ownOverRoundTrips: { p50: Number(pct(shares, 50).toFixed(3)), p95: Number(pct(shares, 95).toFixed(3)) },
  };
}

/**
 * How many pushes the Pub/Sub emulator has in flight at most on one push subscription: 20 messages
 * to an endpoint that takes 300 ms each. Production Pub/Sub widens its push window while the
 * endpoint answers with success; this says how many signings the local stack can run at once.
 */
async function pubsubPushWindow(env: Record<string, string | undefined>): Promise<number> {
  let inFlight = 0;
  let most = 0;
  let answered = 0;
  const server = http.createServer((req, res) => {
    inFlight++;
    most = Math.max(most, inFlight);
    req.resume();
    setTimeout(() => {
      inFlight--;
      answered++;
      res.writeHead(204).end();
    }, 300);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const pubsub = emulatorPubSub(env);
  try {
    const [topic] = await pubsub.createTopic('bench-push-window');
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/probe`;
    await topic.createSubscription('bench-push-window', { pushConfig: { pushEndpoint: endpoint } });
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => topic.publishMessage({ data: Buffer.from(`${i}`) })),
    );
    for (const t = Date.now(); answered < 20 && Date.now() - t < 60_000; )
      await new Promise((r) => setTimeout(r, 50));
    await pubsub.subscription('bench-push-window').delete();
    await topic.delete();
    return most;
  } finally {
    await pubsub.close();
    server.close();
  }
}

/**
 * The burst pushed with the `gcr` subscription pointed at a server that answers every delivery at
 * once and does nothing else: how long the local stack alone (registry notifications, the bridge,
 * the Pub/Sub emulator) takes from a push acknowledged to its event delivered, the part of
 * push→signed no function can shorten.
 */
async function nullFunctionBurst(
  env: Record<string, string | undefined>,
  push: (
    repo: { host: string; repository: string },
    tag: string,
    image: { dir: string; digest: string },
  ) => Promise<void>,
) {
  const deliveredAt = new Map<string, number>();
  let deliveries = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      deliveries++;
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { message: { data: string } };
      const ref = (JSON.parse(Buffer.from(body.message.data, 'base64').toString()) as { digest?: string })
        .digest;
      const digest = ref?.slice(ref.indexOf('@') + 1);
      if (digest !== undefined && !deliveredAt.has(digest)) deliveredAt.set(digest, Date.now());
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const pubsub = emulatorPubSub(env);
  try {
    const pushEndpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/null`;
    await pubsub.subscription('signOnPush-gcr').modifyPushConfig({ pushEndpoint });
    const images = Array.from({ length: PUSHES }, (_, i) => makeOciImage({ tag: `v${i}` }));
    const pushedAt = new Map<string, number>();
    const groups = readState(dir)!.processes.map((p) => ({ name: p.name, pid: p.pid }));
    const groupsBefore = groupCpuMs(groups);
    const started = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < images.length) {
          const i = next++;
          await push({ host: env.REGISTRY!, repository: 'bench/null' }, `v${i}`, images[i]!);
          pushedAt.set(images[i]!.digest, Date.now());
        }
      }),
    );
    const pushed = Date.now();
    for (const t = Date.now(); Date.now() - t < 600_000; ) {
      if ([...pushedAt.keys()].every((d) => deliveredAt.has(d))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const latencies = [...pushedAt].flatMap(([d, at]) =>
      deliveredAt.has(d) ? [deliveredAt.get(d)! - at] : [],
    );
    latencies.sort((a, b) => a - b);
    const seconds = (Math.max(...deliveredAt.values()) - started) / 1000;
    const groupsAfter = groupCpuMs(groups);
    const published = bridgePublished();
    const stages = { toBridge: [] as number[], toFunction: [] as number[] };
    for (const [digest, at] of pushedAt) {
      const [b, r] = [published.get(digest), deliveredAt.get(digest)];
      if (b === undefined || r === undefined) continue;
      stages.toBridge.push(b - at);
      stages.toFunction.push(r - b);
    }
    return {
      mode: 'null function: the gcr subscription delivers to a server that answers at once',
      pushes: PUSHES,
      pushSeconds: (pushed - started) / 1000,
      delivered: latencies.length,
      deliveries,
      pushToDeliveredMs: {
        p50: pct(latencies, 50),
        p95: pct(latencies, 95),
        p99: pct(latencies, 99),
        max: latencies.at(-1),
      },
      deliveredPerSecond: Number((latencies.length / seconds).toFixed(1)),
      stagesMs: {
        note: 'push acknowledged → bridge published on gcr → delivered (log and receive times)',
        toBridge: stageSummary(stages.toBridge),
        toFunction: stageSummary(stages.toFunction),
      },
      coresByProcess: Object.fromEntries(
        groups.map((g) => [
          g.name,
          Number(((groupsAfter[g.name]! - groupsBefore[g.name]!) / 1000 / seconds).toFixed(2)),
        ]),
      ),
    };
  } finally {
    await pubsub.close();
    server.close();
  }
}

// The stack serves the functions compiled, as deployed (type stripping costs an instance memory and
// start-up a deployed one does not pay); compiled before the stack starts, so nothing timed holds it.
if (!values['from-source']) process.env.SIGSENTRY_COMPILED_DIR = compileInstanceScripts();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sigsentry-bench-'));
const profileDir = process.env.SIGSENTRY_FUNCTION_PROFILE_DIR;
let fnPid = 0;
// The stack's processes run in process groups of their own: an interrupted bench stops them. Its
// directory (the registry's blobs, the logs: over 100 MB a run) goes with it.
const removeStack = async () => {
  await stackDown(dir);
  fs.rmSync(dir, { recursive: true, force: true });
};
onInterrupt(removeStack);
const result = await (async () => {
  const state = await stackUp({ dir, ports: 'free' });
  try {
    const env = state.env;
    process.env.FIRESTORE_EMULATOR_HOST = env.FIRESTORE_EMULATOR_HOST;
    const db = new Firestore({ projectId: env.GCP_PROJECT });
    const registry = new RegistryClient({ allowedHosts: [env.REGISTRY!] });
    const pushWindow = await pubsubPushWindow(env);
    fnPid = readState(dir)!.processes.find((p) => p.name === 'function-signOnPush')!.pid;

    const functionLog = path.join(dir, 'logs', 'function-signOnPush.log');
    const repository = 'bench/app';
    const push = async (repo: { host: string; repository: string }, tag: string, image: { dir: string }) => {
      const index = JSON.parse(fs.readFileSync(path.join(image.dir, 'index.json'), 'utf8'));
      const blob = (d: string) => fs.readFileSync(path.join(image.dir, 'blobs', 'sha256', d.slice(7)));
      const manifest = blob(index.manifests[0].digest);
      const parsed = JSON.parse(manifest.toString());
      await registry.putBlob(repo, blob(parsed.config.digest), parsed.config.mediaType);
      await registry.putBlob(repo, blob(parsed.layers[0].digest), parsed.layers[0].mediaType);
      await registry.putManifest(repo, tag, manifest, parsed.mediaType);
    };

    if (values['null-function']) return await nullFunctionBurst(env, push);

    // One push at a time first: the function's own latency against its round trips, unqueued.
    const alone = Array.from({ length: SEQUENTIAL }, (_, k) => makeOciImage({ tag: `alone${k}` }));
    for (const [k, image] of alone.entries()) {
      await push({ host: env.REGISTRY!, repository: 'bench/alone' }, `alone${k}`, image);
      const id = recordId(`${env.REGISTRY}/bench/alone@${image.digest}`, env.KMS_KEY!);
      for (let t = Date.now(); Date.now() - t < 60_000; ) {
        if ((await db.collection(SIGNING_RECORDS).doc(id).get()).get('state') === 'attached') break;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const aloneTimings = signingTimings(functionLog);

    // Images are made before the clock starts; each is pushed as blobs then manifest, like a client.
    const images = Array.from({ length: PUSHES }, (_, i) => ({ i, image: makeOciImage({ tag: `v${i}` }) }));
    const pushedAt = new Map<string, number>();
    const groups = readState(dir)!.processes.map((p) => ({ name: p.name, pid: p.pid }));
    const groupsBefore = groupCpuMs(groups);
    const burstStartLine = signingTimings(functionLog).length;
    const started = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < images.length) {
          const { i, image } = images[next++]!;
          const due = started + (RATE > 0 ? (i * 1000) / RATE : 0);
          if (Date.now() < due) await new Promise((r) => setTimeout(r, due - Date.now()));
          await push({ host: env.REGISTRY!, repository }, `v${i}`, image);
          pushedAt.set(image.digest, Date.now());
        }
      }),
    );
    const pushed = Date.now();

    // Wait on the function's log rather than polling Firestore, so the bench adds no load to the
    // Firestore emulator the function is measured against; then read every record once.
    const deadline = Date.now() + 600_000;
    while (Date.now() < deadline) {
      const logged = firstLogged(functionLog, '"image signed"', (e) => e['image']);
      if ([...pushedAt.keys()].every((d) => logged.has(d))) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const latencies: number[] = [];
    let finished = pushed;
    const digests = [...pushedAt.keys()];
    for (let i = 0; i < digests.length; i += 100) {
      const refs = digests
        .slice(i, i + 100)
        .map((d) =>
          db.collection(SIGNING_RECORDS).doc(recordId(`${env.REGISTRY}/${repository}@${d}`, env.KMS_KEY!)),
        );
      for (const [k, snap] of (await db.getAll(...refs)).entries()) {
        if (snap.get('state') !== 'attached') continue;
        const signedAt = snap.get('updatedAt') as number;
        latencies.push(signedAt - pushedAt.get(digests[i + k]!)!);
        finished = Math.max(finished, signedAt);
      }
    }
    const groupsAfter = groupCpuMs(groups);
    latencies.sort((a, b) => a - b);
    // Where a push waits: registry ack → bridge published on gcr → function received → signed.
    const published = bridgePublished();
    const received = firstLogged(functionLog, 'received gcr event', (e) => e['image']);
    const signedAt = firstLogged(functionLog, '"image signed"', (e) => e['image']);
    const stages = { toBridge: [] as number[], toFunction: [] as number[], inFunction: [] as number[] };
    for (const [digest, at] of pushedAt) {
      const [b, r, s] = [published.get(digest), received.get(digest), signedAt.get(digest)];
      if (b === undefined || r === undefined || s === undefined) continue;
      stages.toBridge.push(b - at);
      stages.toFunction.push(r - b);
      stages.inFunction.push(s - r);
    }
    const burstSeconds = (finished - started) / 1000;
    const result = {
      pushes: PUSHES,
      pushesPerSecond: RATE > 0 ? RATE : 'as fast as the registry takes them',
      signed: latencies.length,
      pushSeconds: (pushed - started) / 1000,
      latencyMs: {
        p50: pct(latencies, 50),
        p95: pct(latencies, 95),
        p99: pct(latencies, 99),
        max: latencies.at(-1),
      },
      signingsPerSecond: Number((latencies.length / ((finished - started) / 1000)).toFixed(1)),
      // The function's group is the Functions Framework process alone (the cgroup shell exec'd it).
      functionCpuMsPerSigning: Number(
        (
          (groupsAfter['function-signOnPush']! - groupsBefore['function-signOnPush']!) /
          Math.max(1, latencies.length)
        ).toFixed(2),
      ),
      functionPeakRssMiB: peakRssMiB(fnPid),
      // The limit the function ran under (its deployed memory) and how often it was killed for it.
      functionMemory:
        (await stackStatus(dir)).components.find((c) => c.name === 'function-signOnPush')?.memory ??
        'no limit on this machine',
      pubsubEmulatorPushWindow: pushWindow,
      stagesMs: {
        note: 'push acknowledged → bridge published on gcr → function received → image signed (log times)',
        traced: stages.toBridge.length,
        toBridge: stageSummary(stages.toBridge),
        toFunction: stageSummary(stages.toFunction),
        inFunction: stageSummary(stages.inFunction),
      },
      // Cores used by each of the stack's process groups over the burst (2 on this machine).
      coresByProcess: Object.fromEntries(
        groups.map((g) => [
          g.name,
          Number(((groupsAfter[g.name]! - groupsBefore[g.name]!) / 1000 / burstSeconds).toFixed(2)),
        ]),
      ),
      // The function's own latency (wall time not spent waiting on KMS, the log, the registry or
      // Firestore) over the time it waited on them, per signing, from its 'image signed' log lines.
      ownLatency: {
        target: 'own latency <= 20 % of the round trips',
        onePushAtATime: ownShare(aloneTimings),
        inTheBurst: ownShare(signingTimings(functionLog).slice(burstStartLine)),
      },
      note: 'both formats per push: 2 KMS signatures, 2 log entries, .sig manifest + referrer index per image',
    };
    await db.terminate();
    return result;
  } finally {
    await removeStack();
  }
})();
// The function writes its CPU profile when it stops: the whole run's CPU, start-up included.
const profile =
  profileDir && fs.readdirSync(profileDir).find((f) => f.includes(`.${fnPid}.`) && f.endsWith('.cpuprofile'));
process.stdout.write(
  `${JSON.stringify(
    profile
      ? {
          ...result,
          functionCpuProfileMs: {
            file: path.join(profileDir!, profile),
            ...cpuByCategory(path.join(profileDir!, profile)),
          },
        }
      : result,
    null,
    2,
  )}\n`,
);
