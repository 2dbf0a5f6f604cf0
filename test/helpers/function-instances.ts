/**
 * More real instances of a function next to the stack's own: Functions Framework processes started
 * as the stack starts its own (same command line, environment and memory limit), each fed by a
 * push subscription of its own on the function's topic. Every message then reaches every instance
 * at once: a redelivery storm across real processes.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { PubSub } from '@google-cloud/pubsub';
import { isListening, pickFreePort, waitFor } from '../../emulators/stack/ports.ts';
import { groupAlive, type ManagedProcess } from '../../emulators/stack/processes.ts';
import {
  FUNCTIONS,
  readState,
  startFunctionInstance,
  stopStackProcess,
} from '../../emulators/stack/stack.ts';
import type { LogEntry, TestStack } from './stack.ts';

/** One instance and where this test's lines start in its log (the stack's served earlier files). */
export interface FunctionInstance {
  name: string;
  pid: number;
  logFile: string;
  from: number;
}

/** The JSON lines a process logged since byte `from`, and the raw text (for crash traces). */
export function linesOf(instance: Pick<FunctionInstance, 'logFile' | 'from'>): {
  entries: LogEntry[];
  text: string;
} {
  const text = fs.existsSync(instance.logFile)
    ? fs.readFileSync(instance.logFile).subarray(instance.from).toString('utf8')
    : '';
  const entries: LogEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      entries.push(JSON.parse(line));
    } catch {
      // a line cut mid-write: the next read sees it whole
    }
  }
  return { entries, text };
}

/**
 * The stack's instance of `target` (named `stack`) and one more per name in `extra`, each with its
 * own subscription on the function's topic. `stop` deletes those subscriptions (other test files
 * share the stack) and stops the processes; call it in `after`, also on failure.
 */
export async function startExtraInstances(
  stack: TestStack,
  pubsub: PubSub,
  target: string,
  extra: readonly string[],
): Promise<{ instances: FunctionInstance[]; stop(): Promise<void> }> {
  const fn = FUNCTIONS.find((f) => f.target === target);
  if (fn?.topic === undefined) throw new Error(`the stack serves no event function ${target}`);
  const topic = fn.topic;
  const own = readState(stack.dir)?.processes.find((p) => p.name === `function-${target}`);
  if (!own) throw new Error(`the stack at ${stack.dir} serves no ${target}`);
  const instances: FunctionInstance[] = [
    { name: 'stack', pid: own.pid, logFile: own.logFile, from: fs.statSync(own.logFile).size },
  ];
  const started: ManagedProcess[] = [];
  const subscriptions: string[] = [];
  const stop = async () => {
    for (const name of subscriptions) {
      await pubsub
        .subscription(name)
        .delete()
        .catch((err: Error) => console.error(`could not delete subscription ${name}: ${err.message}`));
    }
    for (const proc of started) await stopStackProcess(proc);
  };
  try {
    const suffix = `${process.pid}`;
    for (const name of extra) {
      const port = await pickFreePort();
      const logFile = path.join(stack.dir, 'logs', `function-${target}-${name}-${suffix}.log`);
      const proc = startFunctionInstance(fn, port, stack.env, {
        name: `function-${target}-${name}`,
        logFile,
      });
      started.push(proc);
      instances.push({ name, pid: proc.pid, logFile, from: 0 });
    }
    for (const proc of started) {
      await waitFor(
        `${proc.name} to answer on ${proc.port}`,
        async () => {
          if (await isListening(proc.port)) return true;
          if (!groupAlive(proc.pid)) {
            throw new Error(
              `${proc.name} exited before it answered:\n${fs.readFileSync(proc.logFile, 'utf8')}`,
            );
          }
          return false;
        },
        { timeoutMs: 30_000 },
      );
      // The Functions Framework turns a push to /projects/P/topics/T into Cloud Run's CloudEvent.
      const subscription = `${proc.name.replace('function-', '')}-${topic}-${suffix}`;
      await pubsub.topic(topic).createSubscription(subscription, {
        pushConfig: {
          pushEndpoint: `http://127.0.0.1:${proc.port}/projects/${stack.env.GCP_PROJECT}/topics/${topic}`,
        },
        ackDeadlineSeconds: 60,
      });
      subscriptions.push(subscription);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { instances, stop };
}
