/**
 * A Cloud Run instance's memory limit, locally: a memory cgroup of its own per function process,
 * limited to the memory infra/ deploys the function with. Node reads the limit
 * (`process.constrainedMemory()`) and V8 sizes its heap from it, as it does in the container, so a
 * process that fits here fits there; one that does not is killed by the kernel, as Cloud Run would.
 *
 * Needs a writable memory controller (cgroup v1 `memory`, or v2 with `memory` delegated), as root
 * has on these machines; elsewhere `createMemoryLimit` says why it cannot and nothing is limited.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface MemoryLimit {
  /** The cgroup's directory. */
  dir: string;
  limitMiB: number;
  /** Command and arguments that run `command args` inside the cgroup. */
  wrap(command: string, args: string[]): { command: string; args: string[] };
}

type Hierarchy = { version: 1 | 2; dir: string };

/** The memory controller's directory for this process, or a reason there is none. */
function ownMemoryCgroup(): Hierarchy | string {
  let lines: string[];
  try {
    lines = fs.readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n');
  } catch {
    return 'no /proc/self/cgroup (not Linux)';
  }
  for (const line of lines) {
    const [, controllers, relative] = line.split(':', 3) as [string, string, string];
    if (controllers.split(',').includes('memory')) {
      const dir = path.join('/sys/fs/cgroup/memory', relative);
      if (fs.existsSync(path.join(dir, 'memory.limit_in_bytes'))) return { version: 1, dir };
    }
  }
  const unified = lines.find((l) => l.startsWith('0::'));
  if (unified !== undefined) {
    for (const mount of ['/sys/fs/cgroup', '/sys/fs/cgroup/unified']) {
      const dir = path.join(mount, unified.slice(3));
      try {
        if (fs.readFileSync(path.join(dir, 'cgroup.subtree_control'), 'utf8').includes('memory'))
          return { version: 2, dir };
      } catch {}
    }
  }
  return 'no writable memory cgroup controller';
}

/** A fresh memory cgroup limited to `limitMiB`, or the reason none can be made here. */
export function createMemoryLimit(name: string, limitMiB: number): MemoryLimit | { unsupported: string } {
  const parent = ownMemoryCgroup();
  if (typeof parent === 'string') return { unsupported: parent };
  const dir = path.join(parent.dir, `sigsentry-${name}-${process.pid}-${Date.now().toString(36)}`);
  const bytes = String(limitMiB * 1024 * 1024);
  try {
    fs.mkdirSync(dir);
    if (parent.version === 1) {
      fs.writeFileSync(path.join(dir, 'memory.limit_in_bytes'), bytes);
    } else {
      fs.writeFileSync(path.join(dir, 'memory.max'), bytes);
      // Cloud Run has no swap: what does not fit in the limit is killed, not paged out.
      fs.writeFileSync(path.join(dir, 'memory.swap.max'), '0');
    }
  } catch (err) {
    try {
      fs.rmdirSync(dir);
    } catch {}
    return { unsupported: `cannot create a memory cgroup in ${parent.dir}: ${(err as Error).message}` };
  }
  const procs = path.join(dir, 'cgroup.procs');
  return {
    dir,
    limitMiB,
    // The shell joins the cgroup, then becomes the command: its pid (the process group leader the
    // stack tracks) is the function's own.
    wrap: (command, args) => ({
      command: '/bin/sh',
      args: ['-c', 'echo $$ > "$0" && exec "$@"', procs, command, ...args],
    }),
  };
}

/** Why this machine cannot limit a process's memory, or null when it can. */
export function memoryLimitUnsupported(): string | null {
  const probe = createMemoryLimit('probe', 64);
  if ('unsupported' in probe) return probe.unsupported;
  fs.rmdirSync(probe.dir);
  return null;
}

/** How often the kernel killed a process of the cgroup `dir` for exceeding its limit. */
export function oomKills(dir: string): number {
  for (const file of ['memory.oom_control', 'memory.events']) {
    try {
      const match = /^oom_kill (\d+)$/m.exec(fs.readFileSync(path.join(dir, file), 'utf8'));
      if (match) return Number(match[1]);
    } catch {}
  }
  return 0;
}

/** Removes the cgroup `dir` once its processes are gone (nothing if it is already gone). */
export async function removeMemoryLimit(dir: string): Promise<void> {
  // The kernel refuses while a process is still in it, and exited processes leave it a moment late.
  for (let attempt = 0; attempt < 50 && fs.existsSync(dir); attempt++) {
    try {
      fs.rmdirSync(dir);
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  if (fs.existsSync(dir)) throw new Error(`memory cgroup ${dir} still has processes`);
}
/**
 * Peak resident set size (VmHWM) of a process, in MiB, or 0 once it is gone. Not
 * resourceUsage().maxRSS: on Linux a spawned child inherits its parent's high-water mark through
 * fork, so a bench's instance would report the bench's peak, not its own.
 */
export function peakRssMiB(pid: number): number {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return Math.round(Number(kb ?? 0) / 1024);
  } catch {
    return 0;
  }
}
