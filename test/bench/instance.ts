/**
 * Runs a bench's function process as one Cloud Run instance would run: compiled to JavaScript, as
 * deployed (compiled.ts), with the function's FUNCTION_TARGET and NODE_OPTIONS, inside a memory
 * cgroup of the size the function is deployed with (the contract's memoryMiB), so Node sizes its
 * heap from the limit and the kernel kills the process if it does not fit. Its stdout is the result.
 */
import { spawn } from 'node:child_process';
import { createMemoryLimit, oomKills, removeMemoryLimit } from '../../emulators/stack/memory-limit.ts';
import { deployedNodeOptions } from '../../emulators/stack/node-options.ts';
import { FUNCTIONS as CONTRACT } from '../../functions/config/environment.ts';
import { compiledScript } from './compiled.ts';
import { onInterrupt } from './interrupt.ts';

export interface InstanceRun {
  stdout: string;
  /** The limit it ran under, or why this machine could not limit it. */
  memory: { limitMiB: number; oomKills: number } | { unsupported: string };
}

/**
 * `node [BENCH_PROFILE_DIR → --cpu-prof] [BENCH_NODE_FLAGS] script args` as an instance of `target`,
 * `script` (a .ts file of this repository) run compiled, with the NODE_OPTIONS it is deployed with
 * (the contract's nodeOptions; BENCH_NODE_FLAGS come after them, so a flag given there wins). A
 * script that imports functions/index.ts loads the target's modules, as a deployed instance does.
 * Fails with the exit code (and any kill for memory) when the process does not exit 0.
 */
export async function runAsInstance(target: string, script: string, args: string[]): Promise<InstanceRun> {
  const flags: string[] = [];
  if (process.env.BENCH_PROFILE_DIR)
    flags.push('--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`);
  flags.push(...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean));
  const argv = [...flags, compiledScript(script), ...args];
  const limitMiB = CONTRACT[target]!.memoryMiB;
  const limit = createMemoryLimit(`bench-${target}`, limitMiB);
  const { command, args: wrapped } =
    'unsupported' in limit ? { command: process.execPath, args: argv } : limit.wrap(process.execPath, argv);
  const nodeOptions = deployedNodeOptions(target);
  const env = {
    ...process.env,
    // Not K_SERVICE, which Cloud Run sets too: with it the Google libraries take this for Cloud Run.
    FUNCTION_TARGET: target,
    // As in the local stack: there is no metadata server here, and the clients must not look for one.
    METADATA_SERVER_DETECTION: 'none',
    ...(nodeOptions === undefined ? {} : { NODE_OPTIONS: nodeOptions }),
  };
  const child = spawn(command, wrapped, { stdio: ['ignore', 'pipe', 'inherit'], env });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const forget = onInterrupt(async () => {
    child.kill('SIGKILL');
    await exited;
    if (!('unsupported' in limit)) await removeMemoryLimit(limit.dir);
  });
  const code = await exited;
  forget();
  let memory: InstanceRun['memory'] = { unsupported: (limit as { unsupported: string }).unsupported };
  if (!('unsupported' in limit)) {
    memory = { limitMiB, oomKills: oomKills(limit.dir) };
    await removeMemoryLimit(limit.dir);
  }
  if (code !== 0) {
    const killed =
      'oomKills' in memory && memory.oomKills > 0 ? `, killed for exceeding ${limitMiB} MiB` : '';
    throw new Error(`${target} instance (${script}) exited ${code}${killed}`);
  }
  return { stdout, memory };
}
