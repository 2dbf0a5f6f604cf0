/**
 * groupAlive and stopGroup on processes whose /proc entries do not look like live members: a
 * process whose main thread exited while its other threads serve, and a PID namespace whose /proc
 * is not its own. Real processes, each in its own group as the stack starts them.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { groupAlive, stopGroup } from '../../../emulators/stack/processes.ts';

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

it('a process whose main thread exited while another thread serves is alive, and stopGroup stops it', async () => {
  const script = path.join(os.tmpdir(), `leader-exit-${process.pid}.py`);
  fs.writeFileSync(
    script,
    [
      'import ctypes, socket, threading',
      "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); print(s.getsockname()[1], flush=True)",
      'threading.Thread(target=lambda: [s.accept()[0].close() for _ in iter(int, 1)]).start()',
      'ctypes.CDLL(None).pthread_exit(None)',
    ].join('\n'),
  );
  const child = spawn('python3', [script], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = Number(await new Promise<string>((r) => child.stdout!.once('data', (d) => r(String(d)))));
  await new Promise((r) => setTimeout(r, 300));
  try {
    assert.ok(await listening(port), 'the process serves');
    assert.equal(groupAlive(child.pid!), true, 'its leader thread is a zombie, the process is not');
    await stopGroup(child.pid!, 1000);
    assert.equal(await listening(port), false, 'stopped');
  } finally {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
    fs.rmSync(script, { force: true });
  }
});

it('in a PID namespace whose /proc is not its own, a live group is alive and is stopped', (t) => {
  const probe = `
    import { spawn } from 'node:child_process';
    import { groupAlive, stopGroup } from ${JSON.stringify(path.resolve('emulators/stack/processes.ts'))};
    const c = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 300));
    const alive = groupAlive(c.pid), how = await stopGroup(c.pid, 500);
    try { process.kill(-c.pid, 'SIGKILL'); } catch {}
    console.log(JSON.stringify({ alive, how }));
    process.exit(0);`;
  const namespaced = spawnSync(
    'unshare',
    ['-p', '-f', process.execPath, '--input-type=module', '-e', probe],
    {
      encoding: 'utf8',
    },
  );
  if (namespaced.error !== undefined || namespaced.status !== 0) {
    t.skip(`unshare -p -f cannot run here: ${namespaced.error?.message ?? namespaced.stderr.trim()}`);
    return;
  }
  assert.deepEqual(JSON.parse(namespaced.stdout.trim()), { alive: true, how: 'terminated' });
});
