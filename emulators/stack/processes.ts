/**
 * Child processes of the local stack. Each runs in its own process group (detached), so stopping
 * the group also stops what it started: `gcloud emulators … start` is a Python wrapper whose Java
 * child keeps the port when only the wrapper is killed.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';

export interface ManagedProcess {
  name: string;
  pid: number;
  port: number;
  logFile: string;
  /** The memory cgroup the process runs in (memory-limit.ts), removed when the stack stops. */
  memoryCgroup?: string;
}

export function startDetached(opts: {
  name: string;
  command: string;
  args: string[];
  port: number;
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}): ManagedProcess {
  const out = fs.openSync(opts.logFile, 'a');
  const child = spawn(opts.command, opts.args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true,
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  if (child.pid === undefined) throw new Error(`could not start ${opts.name} (${opts.command})`);
  child.unref();
  return { name: opts.name, pid: child.pid, port: opts.port, logFile: opts.logFile };
}

export function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // kill(2) reaches zombies too: a group whose members have all exited is dead, reaped or not
  // (its parent, the stack, reaps them only when it next handles SIGCHLD). A running leader settles
  // it with one read; only otherwise is every process looked at.
  if (isRunning(statOf(String(pid))?.state)) return true;
  const states = groupStates(pid);
  // No member found although kill(2) reached the group: /proc is not this PID namespace's (or they
  // all went meanwhile); kill's answer stands.
  return states === undefined || states.length === 0 || states.some(isRunning);
}

const isRunning = (state: string | undefined) => state !== undefined && state !== 'Z' && state !== 'X';

/**
 * A process's state and group (/proc/PID/stat); undefined once it is gone or where /proc cannot be
 * read. A zombie leader thread whose other threads still run (it called pthread_exit) is running.
 */
function statOf(pid: string): { state: string; pgrp: number } | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses, so split after the last ')'.
  const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (state === undefined) return undefined;
  return { state: state === 'Z' && taskCount(pid) > 1 ? 'R' : state, pgrp: Number(pgrp) };
}

/** The states of the processes in a group; undefined where /proc cannot be read. */
function groupStates(pgid: number): string[] | undefined {
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  return pids.flatMap((p) => {
    const stat = statOf(p); // none: exited meanwhile
    return stat !== undefined && stat.pgrp === pgid ? [stat.state] : [];
  });
}

function taskCount(pid: string): number {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).length;
  } catch {
    return 0;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** SIGTERM the process group, then SIGKILL what is left after the grace period. */
export async function stopGroup(pid: number, graceMs = 10_000): Promise<'terminated' | 'killed' | 'gone'> {
  if (!groupAlive(pid)) return 'gone';
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!groupAlive(pid)) return 'terminated';
    await new Promise((r) => setTimeout(r, 100));
  }
  signalGroup(pid, 'SIGKILL');
  const killDeadline = Date.now() + 5_000;
  while (groupAlive(pid) && Date.now() < killDeadline) await new Promise((r) => setTimeout(r, 100));
  return 'killed';
}
