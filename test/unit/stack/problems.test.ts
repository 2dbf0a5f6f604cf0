/**
 * `stackProblems`, which `stack run` checks after its command: a part that died, and a part whose
 * log carries the line the Functions Framework writes before it exits on an error nothing caught.
 * Real processes stand in for the parts (their own process groups, as the stack starts them).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { stopGroup } from '../../../emulators/stack/processes.ts';
import { stackProblems } from '../../../emulators/stack/stack.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sigsentry-problems-'));
const running: number[] = [];
after(async () => {
  for (const pid of running) await stopGroup(pid);
  fs.rmSync(dir, { recursive: true, force: true });
});

async function part(alive: boolean): Promise<number> {
  const child = spawn('sleep', [alive ? '60' : '0'], { detached: true, stdio: 'ignore' });
  if (alive) running.push(child.pid!);
  else await once(child, 'exit');
  return child.pid!;
}

it('names a part that died, and one whose log has a crash line; a healthy stack has none', async () => {
  const log = (name: string, text: string) => {
    const file = path.join(dir, `${name}.log`);
    fs.writeFileSync(file, text);
    return file;
  };
  const processes = [
    {
      name: 'function-healthy',
      pid: await part(true),
      port: 1,
      logFile: log('healthy', '{"severity":"INFO","message":"image signed"}\n'),
    },
    {
      name: 'function-crashed',
      pid: await part(true),
      port: 2,
      // What the Functions Framework's invoker writes on process 'unhandledRejection'.
      logFile: log('crashed', '{"severity":"INFO","message":"ok"}\nUnhandled rejection\nError: boom\n'),
    },
    { name: 'kms', pid: await part(false), port: 3, logFile: log('kms', '') },
  ];
  const write = (ps: typeof processes) =>
    fs.writeFileSync(path.join(dir, 'stack.json'), JSON.stringify({ dir, env: {}, processes: ps }));

  write(processes);
  const problems = await stackProblems(dir);
  assert.equal(problems.length, 2, problems.join('\n'));
  assert.match(problems[0]!, /^function-crashed logged: Unhandled rejection \(logs in /);
  assert.match(problems[1]!, new RegExp(`^kms \\(pid ${processes[2]!.pid}\\) is no longer running`));

  write([processes[0]!]);
  assert.deepEqual(await stackProblems(dir), []);
});
