import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { memoryLimitUnsupported } from '../../emulators/stack/memory-limit.ts';
import { isListening } from '../../emulators/stack/ports.ts';
import { groupAlive } from '../../emulators/stack/processes.ts';
import { type ComponentStatus, stackProblems } from '../../emulators/stack/stack.ts';
import { readStackEnv } from '../../emulators/stack/stack-env.ts';
import { FUNCTIONS as CONTRACT } from '../../functions/config/environment.ts';

const run = promisify(execFile);

/**
 * The local addresses of the TCP sockets listening on `port`, from the kernel's tables
 * (/proc/net/tcp and tcp6: hex address and port, state 0A is LISTEN).
 */
function listeningAddresses(port: number): string[] {
  const out: string[] = [];
  for (const [file, v6] of [
    ['/proc/net/tcp', false],
    ['/proc/net/tcp6', true],
  ] as const) {
    if (!fs.existsSync(file)) continue;
    for (const line of fs.readFileSync(file, 'utf8').split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state !== '0A' || local === undefined) continue;
      const [address, hexPort] = local.split(':') as [string, string];
      if (Number.parseInt(hexPort, 16) !== port) continue;
      // Each 32-bit word of the address is in the host's (little-endian) byte order.
      const bytes = Buffer.from(address, 'hex');
      for (let i = 0; i < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
      if (!v6) out.push([...bytes].join('.'));
      else if (bytes.every((b, i) => (i === 15 ? b === 1 : b === 0))) out.push('::1');
      else if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff)
        out.push([...bytes.subarray(12)].join('.'));
      else out.push(bytes.toString('hex'));
    }
  }
  return out;
}
const CLI = path.resolve('functions/cli/sigsentry.ts');
const STACK = path.resolve('emulators/stack/main.ts');

describe('sigsentry stack up, then down', () => {
  test('leaves no process and no listening port behind', { timeout: 240_000 }, async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sigsentry-lifecycle-'));
    // A directory reused after a stack whose function crashed: that crash is not this stack's.
    fs.mkdirSync(path.join(dir, 'logs'));
    fs.writeFileSync(path.join(dir, 'logs', 'function-signOnPush.log'), 'Unhandled rejection\n');
    const up = await run(process.execPath, [CLI, 'stack', 'up', '--dir', dir, '--ports', 'free', '--json']);
    const { env } = JSON.parse(up.stdout) as { env: Record<string, string> };
    const state = JSON.parse(fs.readFileSync(path.join(dir, 'stack.json'), 'utf8')) as {
      processes: Array<{ name: string; pid: number; port: number; memoryCgroup?: string }>;
    };
    try {
      assert.deepEqual(readStackEnv(path.join(dir, 'stack.env')), env);
      for (const key of [
        'GCP_PROJECT',
        'FIRESTORE_EMULATOR_HOST',
        'PUBSUB_EMULATOR_HOST',
        'REGISTRY',
        'FUNCTIONS_URL',
      ]) {
        assert.ok(env[key], `stack.env has ${key}`);
      }
      const names = state.processes.map((p) => p.name);
      for (const part of ['firestore', 'pubsub', 'registry', 'registry-bridge', 'function-signOnPush']) {
        assert.ok(names.includes(part), `the stack started ${part}`);
      }
      for (const p of state.processes) {
        assert.ok(await isListening(p.port), `${p.name} listens on ${p.port}`);
        // Reachable from this machine only: a function serves its endpoints without the deployed
        // token check here, so one listening on every interface would run passes for anyone.
        assert.deepEqual(
          listeningAddresses(p.port).filter((a) => a !== '127.0.0.1' && a !== '::1'),
          [],
          `${p.name} listens on loopback only`,
        );
      }
      const status = await run(process.execPath, [CLI, 'stack', 'status', '--dir', dir, '--json']);
      assert.equal(JSON.parse(status.stdout).up, true);
      assert.deepEqual(await stackProblems(dir), [], 'a healthy stack, whatever the last one logged');
      // Each function runs as its own instance under the memory it is deployed with, where the
      // machine lets the stack make memory cgroups (root on these machines).
      const unsupported = memoryLimitUnsupported();
      if (unsupported !== null) t.diagnostic(`functions run without memory limits here: ${unsupported}`);
      else {
        for (const c of JSON.parse(status.stdout).components as ComponentStatus[]) {
          if (!c.name.startsWith('function-')) continue;
          const target = c.name.slice('function-'.length);
          assert.deepEqual(c.memory, { limitMiB: CONTRACT[target]!.memoryMiB, oomKills: 0 }, c.name);
          const cgroup = state.processes.find((p) => p.name === c.name)!.memoryCgroup!;
          const members = fs.readFileSync(path.join(cgroup, 'cgroup.procs'), 'utf8').split('\n');
          assert.ok(members.includes(String(c.pid)), `${c.name} runs in its memory cgroup`);
        }
      }
    } finally {
      await run(process.execPath, [CLI, 'stack', 'down', '--dir', dir, '--json']);
    }
    for (const p of state.processes) {
      assert.equal(groupAlive(p.pid), false, `${p.name} (process group ${p.pid}) is gone`);
      assert.equal(await isListening(p.port), false, `nothing listens on ${p.name}'s port ${p.port}`);
    }
    assert.equal(fs.existsSync(path.join(dir, 'stack.env')), false, 'stack.env is removed');
    for (const p of state.processes.filter((p) => p.memoryCgroup !== undefined))
      assert.equal(fs.existsSync(p.memoryCgroup!), false, `${p.name}'s memory cgroup is removed`);
    const status = await run(process.execPath, [CLI, 'stack', 'status', '--dir', dir]).catch((e) => e);
    assert.equal(status.code, 1, 'status exits 1 when the stack is down');
  });

  test('stack run fails a run during which a part of the stack died, naming it', {
    timeout: 240_000,
  }, async () => {
    // The command kills the signOnPush instance's process group, as a crash would end it, waits
    // until it has exited (a zombie until the stack reaps it), and itself succeeds: the run must
    // fail all the same.
    const kill = `
      import fs from 'node:fs';
      import path from 'node:path';
      import { groupAlive } from ${JSON.stringify(path.resolve('emulators/stack/processes.ts'))};
      const dir = path.dirname(process.env.SIGSENTRY_STACK_ENV);
      const state = JSON.parse(fs.readFileSync(path.join(dir, 'stack.json'), 'utf8'));
      const pid = state.processes.find((p) => p.name === 'function-signOnPush').pid;
      process.kill(-pid, 'SIGKILL');
      while (groupAlive(pid)) await new Promise((r) => setTimeout(r, 20));`;
    const result = await run(process.execPath, [
      STACK,
      'run',
      '--',
      process.execPath,
      '--input-type=module',
      '-e',
      kill,
    ]).catch((e) => e);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /stack problem: function-signOnPush \(pid \d+\) is no longer running/);
    assert.match(result.stderr, /stack down: stopped/);
  });

  test('bad arguments exit 2 with a message', async () => {
    for (const args of [['stack'], ['stack', 'sideways'], ['stack', 'up', '--ports', 'some'], ['nonsense']]) {
      const result = await run(process.execPath, [CLI, ...args]).catch((e) => e);
      assert.equal(result.code, 2, `sigsentry ${args.join(' ')} exits 2`);
      assert.match(result.stderr, /usage: sigsentry/);
    }
  });
});
