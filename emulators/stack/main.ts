/**
 * `node emulators/stack/main.ts up|down|status [--dir DIR] [--ports fixed|free] [--json]`
 * `node emulators/stack/main.ts run [--dir DIR] -- COMMAND ARGS…`: up, run the command with the
 * stack's environment (and SIGSENTRY_STACK_ENV), down whatever the command's outcome. A part
 * that died, was killed for its memory or logged a crash during the run fails it (exit 1).
 * Exit codes: 0 success, 1 failure, 2 usage error.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { envFile, PROJECT_ROOT, stackDown, stackProblems, stackStatus, stackUp } from './stack.ts';

const USAGE = `usage: sigsentry stack up|down|status [--dir DIR] [--ports fixed|free] [--json]
       sigsentry stack run [--dir DIR] -- COMMAND [ARGS…]

  up      start Firestore, Pub/Sub, docker-registry, the registry bridge and the functions;
          write DIR/stack.env (default DIR: .sigsentry)
  down    stop every process the stack started and check no port is left listening
  status  show each part, its process and port
  run     up on free ports in a fresh directory, run COMMAND with the stack's environment, down;
          fails if a part of the stack died or crashed meanwhile`;

function usage(message: string): never {
  process.stderr.write(`sigsentry stack: ${message}\n${USAGE}\n`);
  process.exit(2);
}

async function main(argv: string[]): Promise<number> {
  const dashdash = argv.indexOf('--');
  const own = dashdash >= 0 ? argv.slice(0, dashdash) : argv;
  const rest = dashdash >= 0 ? argv.slice(dashdash + 1) : [];
  let parsed: ReturnType<typeof parseOwn>;
  try {
    parsed = parseOwn(own);
  } catch (err) {
    usage((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [command, ...extra] = positionals;
  if (extra.length) usage(`unexpected argument ${extra[0]}`);
  if (values.ports !== 'fixed' && values.ports !== 'free')
    usage(`--ports must be fixed or free, not ${values.ports}`);
  const dir = values.dir ?? path.join(process.cwd(), '.sigsentry');
  const say = (line: string) => {
    if (!values.json) process.stderr.write(`${line}\n`);
  };

  switch (command) {
    case 'up': {
      const state = await stackUp({ dir, ports: values.ports, log: say });
      if (values.json)
        process.stdout.write(`${JSON.stringify({ up: true, env: state.env, envFile: envFile(dir) })}\n`);
      else
        process.stdout.write(
          `stack is up; environment in ${envFile(dir)}\n${fs.readFileSync(envFile(dir), 'utf8')}`,
        );
      return 0;
    }
    case 'down': {
      const result = await stackDown(dir);
      if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
      else if (!result.stopped.length) process.stdout.write('no stack was running\n');
      else process.stdout.write(`stopped ${result.stopped.join(', ')}\n`);
      if (result.stillListening.length) {
        process.stderr.write(`ports still listening: ${result.stillListening.join(', ')}\n`);
        return 1;
      }
      return 0;
    }
    case 'status': {
      const status = await stackStatus(dir);
      if (values.json) process.stdout.write(`${JSON.stringify(status)}\n`);
      else if (!status.components.length) process.stdout.write('stack is down\n');
      else {
        for (const c of status.components) {
          const health = c.running && c.listening ? 'up' : c.running ? 'not answering' : 'stopped';
          const memory = c.memory
            ? ` (memory limit ${c.memory.limitMiB} MiB${c.memory.oomKills ? `, killed ${c.memory.oomKills} times for exceeding it` : ''})`
            : '';
          process.stdout.write(
            `${c.name.padEnd(26)} pid ${String(c.pid).padEnd(8)} port ${String(c.port).padEnd(6)} ${health}${memory}\n`,
          );
        }
      }
      return status.up ? 0 : 1;
    }
    case 'run': {
      if (!rest.length) usage('run needs a command after --');
      const runDir = values.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'sigsentry-stack-'));
      return runWithStack(runDir, rest, say);
    }
    case undefined:
      usage('missing command');
      break;
    default:
      usage(`unknown command ${command}`);
  }
  return 2;
}

function parseOwn(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    options: {
      dir: { type: 'string' },
      ports: { type: 'string', default: 'fixed' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

async function runWithStack(dir: string, command: string[], say: (line: string) => void): Promise<number> {
  let stopping: Promise<unknown> | null = null;
  const down = () => {
    stopping ??= stackDown(dir).then((r) => say(`stack down: stopped ${r.stopped.join(', ')}`));
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    say(`received ${signal}; stopping the stack`);
    void down().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const started = Date.now();
    await stackUp({ dir, ports: 'free', log: say });
    say(`stack up in ${((Date.now() - started) / 1000).toFixed(1)} s (${envFile(dir)})`);
    const env = { ...process.env, SIGSENTRY_STACK_ENV: envFile(dir) };
    const code = await new Promise<number>((resolve) => {
      const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env, cwd: PROJECT_ROOT });
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
      child.on('error', (err) => {
        say(`could not run ${command[0]}: ${err.message}`);
        resolve(1);
      });
    });
    // A part that crashed or died during the run fails it, whatever the command said.
    const problems = await stackProblems(dir);
    for (const problem of problems) say(`stack problem: ${problem}`);
    return problems.length > 0 && code === 0 ? 1 : code;
  } finally {
    await down();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`sigsentry stack: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
