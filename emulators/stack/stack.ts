/**
 * The local stack: the gcloud Firestore and Pub/Sub emulators, a docker-registry whose
 * notifications are bridged onto topic `gcr`, and the functions served by the Functions Framework,
 * all on loopback. `up` waits until every part answers and writes `stack.env`; `down` stops every
 * process group it started, by process id, and checks that no port is left listening.
 */
import { createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PubSub } from '@google-cloud/pubsub';
import { FUNCTIONS as CONTRACT } from '../../functions/config/environment.ts';
import { createKmsClient } from '../../functions/signing/kms-client.ts';
import { ensureSigningKey } from '../kms/setup.ts';
import { BRIDGE_HEALTH } from '../registry-bridge/server.ts';
import { loadKeys } from '../rekor/keys.ts';
import { createMemoryLimit, oomKills, removeMemoryLimit } from './memory-limit.ts';
import { deployedNodeOptions } from './node-options.ts';
import { httpAnswers, isListening, pickFreePort, waitFor } from './ports.ts';
import { groupAlive, type ManagedProcess, startDetached, stopGroup } from './processes.ts';
import { registryConfig } from './registry-config.ts';
import { readStackEnv, type StackEnv, writeStackEnv } from './stack-env.ts';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(PROJECT_ROOT, 'node_modules', '.bin');
const NODE = process.execPath;

/**
 * The functions the stack serves, each in its own Functions Framework process; those with a topic
 * get a push subscription on it, http ones are called directly.
 */
export interface StackFunction {
  target: string;
  signature: 'cloudevent' | 'http';
  topic?: string;
}
export const FUNCTIONS: readonly StackFunction[] = [
  { target: 'signOnPush', signature: 'cloudevent', topic: 'gcr' },
  // Scans the shards of a log backlog monitorLog fans out (MONITOR_SHARD_TOPIC below).
  { target: 'monitorShard', signature: 'cloudevent', topic: 'monitor-shards' },
  { target: 'dashboard', signature: 'http' },
];

export interface StackOptions {
  dir: string;
  /** `fixed`: Firestore and Pub/Sub on firebase.json's ports; `free`: every port picked free. */
  ports: 'fixed' | 'free';
  project?: string;
  log?: (line: string) => void;
}

export interface StackState {
  dir: string;
  env: StackEnv;
  processes: ManagedProcess[];
}

const stateFile = (dir: string) => path.join(dir, 'stack.json');
export const envFile = (dir: string) => path.join(dir, 'stack.env');

function firebasePorts(): { firestore: number; pubsub: number } {
  const config = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'firebase.json'), 'utf8'));
  return { firestore: Number(config.emulators.firestore.port), pubsub: Number(config.emulators.pubsub.port) };
}

export function readState(dir: string): StackState | null {
  try {
    return JSON.parse(fs.readFileSync(stateFile(dir), 'utf8')) as StackState;
  } catch {
    return null;
  }
}

function saveState(state: StackState): void {
  fs.writeFileSync(stateFile(state.dir), JSON.stringify(state, null, 2));
}

async function portFor(kind: 'firestore' | 'pubsub', opts: StackOptions): Promise<number> {
  if (opts.ports === 'free') return pickFreePort();
  const port = firebasePorts()[kind];
  if (await isListening(port)) {
    throw new Error(
      `port ${port} for the ${kind} emulator (firebase.json) is in use: is a stack already up?`,
    );
  }
  return port;
}

/** A part of the stack could not bind the port picked for it: another process took it meanwhile. */
class PortTakenError extends Error {}

/** The end of a part's log, and whether it says its port was taken. */
function logTail(proc: ManagedProcess): { tail: string; portTaken: boolean } {
  const tail = fs.readFileSync(proc.logFile, 'utf8').split('\n').slice(-15).join('\n');
  return { tail, portTaken: tail.includes('EADDRINUSE') };
}

export async function stackUp(opts: StackOptions): Promise<StackState> {
  try {
    return await startStack(opts);
  } catch (err) {
    if (!(err instanceof PortTakenError)) throw err;
    // A picked port is free only until its user binds it: once, start again on other ports.
    opts.log?.(`a port was taken while the stack started (${err.message.split(';')[0]}); starting again`);
    return startStack(opts);
  }
}

async function startStack(opts: StackOptions): Promise<StackState> {
  const log = opts.log ?? (() => {});
  const dir = path.resolve(opts.dir);
  const existing = readState(dir);
  if (existing?.processes.some((p) => groupAlive(p.pid))) {
    throw new Error(`a stack is already running from ${dir}; run 'sigsentry stack down' first`);
  }
  const logs = path.join(dir, 'logs');
  // A reused directory's logs are the last stack's: a crash line there is not this stack's
  // (stackProblems reads whole logs).
  fs.rmSync(logs, { recursive: true, force: true });
  fs.mkdirSync(logs, { recursive: true });
  const project = opts.project ?? 'sigsentry-local';
  const state: StackState = { dir, env: { GCP_PROJECT: project }, processes: [] };
  const track = (p: ManagedProcess) => {
    state.processes.push(p);
    saveState(state);
    return p;
  };
  const logFile = (name: string) => path.join(logs, `${name}.log`);

  try {
    // Java emulators first: they are the slowest to start, so they start together.
    fs.mkdirSync(path.join(dir, 'pubsub'), { recursive: true });
    const firestorePort = await portFor('firestore', opts);
    const pubsubPort = await portFor('pubsub', opts);
    track(
      startDetached({
        name: 'firestore',
        command: 'gcloud',
        args: ['emulators', 'firestore', 'start', `--host-port=127.0.0.1:${firestorePort}`, '--quiet'],
        port: firestorePort,
        logFile: logFile('firestore'),
      }),
    );
    track(
      startDetached({
        name: 'pubsub',
        command: 'gcloud',
        args: [
          'beta',
          'emulators',
          'pubsub',
          'start',
          `--host-port=127.0.0.1:${pubsubPort}`,
          `--project=${project}`,
          `--data-dir=${path.join(dir, 'pubsub')}`,
          '--quiet',
        ],
        port: pubsubPort,
        logFile: logFile('pubsub'),
      }),
    );
    // The log and KMS emulators start while Java warms up.
    const rekorPort = await pickFreePort();
    const kmsPort = await pickFreePort();
    const kmsAdminPort = await pickFreePort();
    track(
      startDetached({
        name: 'rekor',
        command: NODE,
        args: [
          path.join(PROJECT_ROOT, 'emulators', 'rekor', 'main.ts'),
          `--port=${rekorPort}`,
          `--data-dir=${path.join(dir, 'rekor')}`,
        ],
        port: rekorPort,
        logFile: logFile('rekor'),
      }),
    );
    track(
      startDetached({
        name: 'kms',
        command: NODE,
        args: [
          path.join(PROJECT_ROOT, 'emulators', 'kms', 'main.ts'),
          `--port=${kmsPort}`,
          `--admin-port=${kmsAdminPort}`,
          `--data-dir=${path.join(dir, 'kms')}`,
        ],
        port: kmsPort,
        logFile: logFile('kms'),
      }),
    );
    state.env.REKOR_URL = `http://127.0.0.1:${rekorPort}`;
    state.env.KMS_ENDPOINT = `127.0.0.1:${kmsPort}`;
    // Fault injection for tests: the KMS emulator's admin port, and the log's POST /__faults.
    state.env.KMS_ADMIN_URL = `http://127.0.0.1:${kmsAdminPort}`;
    state.env.FIRESTORE_EMULATOR_HOST = `127.0.0.1:${firestorePort}`;
    state.env.PUBSUB_EMULATOR_HOST = `127.0.0.1:${pubsubPort}`;

    await waitUntilAnswering(state, 'firestore', () =>
      httpAnswers(`http://${state.env.FIRESTORE_EMULATOR_HOST}/`),
    );
    await waitUntilAnswering(state, 'pubsub', () => httpAnswers(`http://${state.env.PUBSUB_EMULATOR_HOST}/`));
    log('firestore and pubsub emulators are up');

    // Picked once the Java emulators are up: the Firestore emulator binds a second port of its
    // own while it starts, and once took the port picked for the bridge.
    const registryPort = await pickFreePort();
    const bridgePort = await pickFreePort();
    state.env.REGISTRY = `127.0.0.1:${registryPort}`;

    const functionPorts = new Map<string, number>();
    for (const fn of FUNCTIONS) functionPorts.set(fn.target, await pickFreePort());
    state.env.FUNCTIONS_URL = `http://127.0.0.1:${functionPorts.get('signOnPush')}`;
    state.env.MONITOR_SHARD_TOPIC = 'monitor-shards';
    // The status page, open without a token locally (SIGSENTRY_LOCAL=1 below).
    state.env.DASHBOARD_URL = `http://127.0.0.1:${functionPorts.get('dashboard')}/`;

    await waitUntilAnswering(state, 'rekor', () => httpAnswers(`${state.env.REKOR_URL}/api/v1/log`));
    await waitUntilAnswering(state, 'kms', () => isListening(kmsPort));
    const kms = createKmsClient({ endpoint: state.env.KMS_ENDPOINT });
    try {
      state.env.KMS_KEY = await ensureSigningKey(kms, {
        project,
        location: 'global',
        keyRing: 'sigsentry',
        key: 'image-signing',
        algorithm: 'EC_SIGN_P256_SHA256',
      });
    } finally {
      await kms.close();
    }
    const rekorKey = await fetch(`${state.env.REKOR_URL}/api/v1/log/publicKey`).then((r) => r.text());
    state.env.REKOR_PUBLIC_KEY_FILE = path.join(dir, 'rekor.pub');
    fs.writeFileSync(state.env.REKOR_PUBLIC_KEY_FILE, rekorKey);
    // The v2 (tile) log's checkpoint key has no API (the public one is in the TUF trusted root):
    // read from the emulator's data folder, for monitoring the v2 log with REKOR_API=v2.
    state.env.REKOR_V2_PUBLIC_KEY_FILE = path.join(dir, 'rekor-v2.pub');
    fs.writeFileSync(
      state.env.REKOR_V2_PUBLIC_KEY_FILE,
      createPublicKey(loadKeys(path.join(dir, 'rekor')).v2).export({ format: 'pem', type: 'spki' }),
    );
    // Locally every repository of the registry is watched, signed with the stack's KMS key.
    state.env.SIGSENTRY_WATCH = `${state.env.REGISTRY}/**`;
    // The stack runs without internet: a watchlist is judged with the public-good root embedded in
    // @sigstore/tuf, never refreshed from tuf-repo-cdn.sigstore.dev (a test may point it elsewhere).
    state.env.SIGSTORE_TUF_URL = 'none';
    log(`rekor and kms emulators are up; signing key ${state.env.KMS_KEY}`);

    const childEnv = stackChildEnv(state.env);

    for (const fn of FUNCTIONS) {
      const name = `function-${fn.target}`;
      track(
        startFunctionInstance(fn, functionPorts.get(fn.target)!, state.env, {
          name,
          logFile: logFile(name),
          log,
        }),
      );
    }

    await createTopicsAndSubscriptions(state.env, functionPorts);
    log('topics and push subscriptions created');

    track(
      startDetached({
        name: 'registry-bridge',
        command: NODE,
        args: [
          path.join(PROJECT_ROOT, 'emulators', 'registry-bridge', 'main.ts'),
          `--port=${bridgePort}`,
          `--registry-host=${state.env.REGISTRY}`,
          `--project=${project}`,
          '--topic=gcr',
        ],
        port: bridgePort,
        env: childEnv,
        logFile: logFile('registry-bridge'),
      }),
    );
    const registryDir = path.join(dir, 'registry');
    fs.mkdirSync(registryDir, { recursive: true });
    const configPath = path.join(dir, 'registry.yml');
    fs.writeFileSync(
      configPath,
      registryConfig({
        port: registryPort,
        storageDir: registryDir,
        notifyUrl: `http://127.0.0.1:${bridgePort}/events`,
      }),
    );
    track(
      startDetached({
        name: 'registry',
        command: 'docker-registry',
        args: ['serve', configPath],
        port: registryPort,
        logFile: logFile('registry'),
      }),
    );

    await waitUntilAnswering(state, 'registry-bridge', async () => {
      // By its answer, not by the port answering: another server on a port that was free when
      // picked must not pass for the bridge.
      const res = await fetch(`http://127.0.0.1:${bridgePort}/healthz`).catch(() => undefined);
      return res?.ok === true && (await res.text()) === BRIDGE_HEALTH;
    });
    await waitUntilAnswering(state, 'registry', () => httpAnswers(`http://${state.env.REGISTRY}/v2/`));
    for (const [target, port] of functionPorts) {
      await waitUntilAnswering(state, `function-${target}`, () => isListening(port));
    }
    // A part that answered and then died (its port taken after all) fails the start here, not
    // a test or bench that would wait on it.
    const dead = state.processes.filter((p) => !groupAlive(p.pid));
    if (dead.length > 0) {
      const Failure = dead.some((p) => logTail(p).portTaken) ? PortTakenError : Error;
      throw new Failure(`${dead.map((p) => p.name).join(', ')} exited while the stack started; see ${logs}`);
    }
    log('registry, bridge and functions are up');

    writeStackEnv(envFile(dir), state.env);
    saveState(state);
    return state;
  } catch (err) {
    await stopProcesses(state.processes);
    fs.rmSync(stateFile(dir), { force: true });
    throw err;
  }
}

/** The environment of the stack's node processes (functions and bridge). */
function stackChildEnv(stackEnv: StackEnv): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...stackEnv,
    SIGSENTRY_LOCAL: '1',
    // No metadata server on loopback: the Google clients must not look for one.
    METADATA_SERVER_DETECTION: 'none',
  };
}

/**
 * What a function instance runs: the TypeScript source, or, with SIGSENTRY_COMPILED_DIR=dir (a
 * bench, test/bench/compiled.ts), this repository compiled into dir, as deployed.
 */
function functionSource(): { index: string; loopbackHook: string } {
  const compiled = process.env.SIGSENTRY_COMPILED_DIR;
  const [root, ext] = compiled ? [compiled, 'js'] : [PROJECT_ROOT, 'ts'];
  return {
    index: path.join(root, 'functions', `index.${ext}`),
    loopbackHook: path.join(root, 'emulators', 'stack', `listen-on-loopback.${ext}`),
  };
}

/**
 * How the stack serves one instance of a function: the Functions Framework on `port` with the
 * stack's environment, as Cloud Run runs it (tests start more instances the same way).
 */
export function functionInstanceCommand(
  fn: StackFunction,
  port: number,
  stackEnv: StackEnv,
): { command: string; args: string[]; env: NodeJS.ProcessEnv } {
  const nodeOptions = deployedNodeOptions(fn.target);
  const env: NodeJS.ProcessEnv = {
    ...stackChildEnv(stackEnv),
    FUNCTION_TARGET: fn.target,
    K_SERVICE: fn.target,
    // Cloud Run functions deployed through the v2 API log execution ids.
    LOG_EXECUTION_ID: 'true',
    ...(nodeOptions === undefined ? {} : { NODE_OPTIONS: nodeOptions }),
  };
  delete env.NODE_TEST_CONTEXT; // started from a test, the function is still not a test file
  const source = functionSource();
  return {
    command: NODE,
    args: [
      // SIGSENTRY_FUNCTION_PROFILE_DIR=dir: a CPU profile of each function, written when it stops.
      ...(process.env.SIGSENTRY_FUNCTION_PROFILE_DIR
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.SIGSENTRY_FUNCTION_PROFILE_DIR}`]
        : []),
      // The framework listens on every interface given a port: loopback only here.
      `--import=${source.loopbackHook}`,
      path.join(BIN, 'functions-framework'),
      `--target=${fn.target}`,
      `--signature-type=${fn.signature}`,
      `--source=${source.index}`,
      `--port=${port}`,
    ],
    env,
  };
}

/**
 * Starts one instance of a function as the stack serves it, in a memory cgroup of the size the
 * function is deployed with (the contract's memoryMiB) where the machine allows one.
 */
export function startFunctionInstance(
  fn: StackFunction,
  port: number,
  stackEnv: StackEnv,
  opts: { name: string; logFile: string; log?: (line: string) => void },
): ManagedProcess {
  const { command: node, args: argv, env } = functionInstanceCommand(fn, port, stackEnv);
  const limit = createMemoryLimit(opts.name, CONTRACT[fn.target]!.memoryMiB);
  if ('unsupported' in limit) opts.log?.(`${opts.name} runs without its memory limit: ${limit.unsupported}`);
  const { command, args } = 'unsupported' in limit ? { command: node, args: argv } : limit.wrap(node, argv);
  const started = startDetached({ name: opts.name, command, args, port, env, logFile: opts.logFile });
  return 'unsupported' in limit ? started : { ...started, memoryCgroup: limit.dir };
}

/** Stops a process the stack started (its whole group) and removes its memory cgroup. */
export async function stopStackProcess(p: ManagedProcess): Promise<string> {
  const started = Date.now();
  const how = await stopGroup(p.pid);
  if (p.memoryCgroup !== undefined) await removeMemoryLimit(p.memoryCgroup);
  return `${how} in ${Date.now() - started} ms`;
}

/** Waits for a part to answer, failing at once, with its log's tail, if its process has exited. */
async function waitUntilAnswering(
  state: StackState,
  name: string,
  answers: () => Promise<boolean>,
): Promise<void> {
  const proc = state.processes.find((p) => p.name === name);
  if (!proc) throw new Error(`no process named ${name}`);
  await waitFor(
    name,
    async () => {
      if (await answers()) return true;
      if (!groupAlive(proc.pid)) {
        const { tail, portTaken } = logTail(proc);
        const Failure = portTaken ? PortTakenError : Error;
        throw new Failure(`${name} exited before it answered; the end of ${proc.logFile}:\n${tail}`);
      }
      return false;
    },
    { timeoutMs: 120_000 },
  );
}

/**
 * Deliveries of one message before Pub/Sub dead-letters it: infra's `max_delivery_attempts` default
 * (a unit test checks they agree), set here on each push subscription as attach-dead-letter.sh sets
 * it on each trigger's subscription.
 */
export const MAX_DELIVERY_ATTEMPTS = 15;

/** The dead-letter topic (and its pull subscription, of the same name) of a trigger's topic. */
export const deadLetterTopicOf = (topic: string) => `${topic}-dead-letter`;

async function createTopicsAndSubscriptions(
  env: StackEnv,
  functionPorts: Map<string, number>,
): Promise<void> {
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const pubsub = new PubSub({
    projectId: env.GCP_PROJECT,
    apiEndpoint: env.PUBSUB_EMULATOR_HOST,
    emulatorMode: true,
  });
  try {
    for (const name of ['gcr', 'signing-alerts', 'monitor-shards']) await pubsub.createTopic(name);
    for (const fn of FUNCTIONS) {
      if (fn.topic === undefined) continue;
      // Dead letters stay on a subscription of their own for triage, as in infra/pubsub.tf.
      const [deadLetters] = await pubsub.createTopic(deadLetterTopicOf(fn.topic));
      await deadLetters.createSubscription(deadLetterTopicOf(fn.topic));
      // The Functions Framework turns a raw Pub/Sub push into the CloudEvent Cloud Run delivers
      // when the push path is /projects/P/topics/T.
      const pushEndpoint = `http://127.0.0.1:${functionPorts.get(fn.target)}/projects/${env.GCP_PROJECT}/topics/${fn.topic}`;
      await pubsub.topic(fn.topic).createSubscription(`${fn.target}-${fn.topic}`, {
        pushConfig: { pushEndpoint },
        ackDeadlineSeconds: 60,
        deadLetterPolicy: { deadLetterTopic: deadLetters.name, maxDeliveryAttempts: MAX_DELIVERY_ATTEMPTS },
      });
    }
  } finally {
    await pubsub.close();
  }
}

async function stopProcesses(processes: ManagedProcess[]): Promise<Record<string, string>> {
  // The registry goes first so it stops notifying; the rest stop together.
  const outcome: Record<string, string> = {};
  const stop = async (p: ManagedProcess) => {
    outcome[p.name] = await stopStackProcess(p);
  };
  const registry = processes.filter((p) => p.name === 'registry');
  await Promise.all(registry.map(stop));
  await Promise.all(processes.filter((p) => p.name !== 'registry').map(stop));
  return outcome;
}

export async function stackDown(
  dirArg: string,
): Promise<{ stopped: string[]; outcome: Record<string, string>; stillListening: number[] }> {
  const dir = path.resolve(dirArg);
  const state = readState(dir);
  if (!state) return { stopped: [], outcome: {}, stillListening: [] };
  const outcome = await stopProcesses(state.processes);
  const stillListening: number[] = [];
  for (const p of state.processes) {
    // A port can linger for a moment after its owner exits.
    try {
      await waitFor(`port ${p.port} to close`, async () => !(await isListening(p.port)), { timeoutMs: 5000 });
    } catch {
      stillListening.push(p.port);
    }
  }
  fs.rmSync(stateFile(dir), { force: true });
  fs.rmSync(envFile(dir), { force: true });
  return { stopped: state.processes.map((p) => p.name), outcome, stillListening };
}

export interface ComponentStatus {
  name: string;
  pid: number;
  port: number;
  running: boolean;
  listening: boolean;
  /** Functions: the memory limit the instance runs under, and how often it was killed for exceeding it. */
  memory?: { limitMiB: number; oomKills: number };
}

function memoryOf(cgroup: string): { limitMiB: number; oomKills: number } {
  const limitFile = ['memory.limit_in_bytes', 'memory.max']
    .map((f) => path.join(cgroup, f))
    .find((f) => fs.existsSync(f));
  const bytes = limitFile === undefined ? 0 : Number(fs.readFileSync(limitFile, 'utf8').trim());
  return { limitMiB: Math.round(bytes / 2 ** 20), oomKills: oomKills(cgroup) };
}

/** What the Functions Framework (and Node) logs when an error nothing caught ends a process. */
export const CRASH_LINE = /Unhandled rejection|Uncaught exception/;

/**
 * What went wrong with a stack while it ran: a part that is no longer running, a function killed
 * for exceeding its memory, a crash line in a part's log. `stack run` fails a run that leaves any,
 * so every test that goes through the stack also checks that nothing in it crashed.
 */
export async function stackProblems(dirArg: string): Promise<string[]> {
  const dir = path.resolve(dirArg);
  const state = readState(dir);
  if (!state) return [`no stack state in ${dir}`];
  const { components } = await stackStatus(dir);
  const problems: string[] = [];
  for (const p of state.processes) {
    const status = components.find((c) => c.name === p.name);
    if (status !== undefined && !status.running)
      problems.push(`${p.name} (pid ${p.pid}) is no longer running`);
    if (status?.memory?.oomKills) {
      problems.push(
        `${p.name} was killed ${status.memory.oomKills} times for exceeding ${status.memory.limitMiB} MiB`,
      );
    }
    const crash = crashLine(p.logFile);
    if (crash !== undefined) problems.push(`${p.name} logged: ${crash}`);
  }
  return problems.map((problem) => `${problem} (logs in ${path.join(dir, 'logs')})`);
}

/** The first crash line of a log, shortened; none when the log has none or is missing. */
function crashLine(logFile: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(logFile, 'utf8');
  } catch {
    return undefined;
  }
  const line = text.split('\n').find((l) => CRASH_LINE.test(l));
  return line === undefined ? undefined : line.slice(0, 300);
}

export async function stackStatus(
  dirArg: string,
): Promise<{ up: boolean; components: ComponentStatus[]; env: StackEnv }> {
  const dir = path.resolve(dirArg);
  const state = readState(dir);
  if (!state) return { up: false, components: [], env: {} };
  const components = await Promise.all(
    state.processes.map(async (p) => ({
      name: p.name,
      pid: p.pid,
      port: p.port,
      running: groupAlive(p.pid),
      listening: await isListening(p.port),
      ...(p.memoryCgroup === undefined ? {} : { memory: memoryOf(p.memoryCgroup) }),
    })),
  );
  const env = fs.existsSync(envFile(dir)) ? readStackEnv(envFile(dir)) : {};
  return { up: components.every((c) => c.running && c.listening), components, env };
}
