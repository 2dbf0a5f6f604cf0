#!/usr/bin/env node
/**
 * The `sigsentry` command line: the same cores as the functions, plus `stack` for the local stack.
 * Exit codes: 0 success or valid, 1 invalid or failed check, 2 usage error.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const USAGE = `usage: sigsentry <command> [options]

commands:
  stack up|down|status|run   the local stack (Firestore, Pub/Sub, registry, functions), from a source checkout
  sign IMAGE | --backfill REPO  sign one image, or every unsigned digest of a repository
  verify IMAGE               check an image's signatures (--key PEM|gcpkms://… | --identity … --issuer …)
  reverify --once            one re-verification pass over the watched tags and the watchlist
  monitor --once [--from N]  one transparency-log monitoring run
  alerts [--open]            the alerts in Firestore (alerts resolve KEY --reason TEXT: resolve one)
  status                     coverage, recent signings, open alerts, the monitor's cursor

Run 'sigsentry <command> --help' for a command's options.
Exit codes: 0 success, 1 failed check, 2 usage error.`;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function usage(message?: string): number {
  if (message) process.stderr.write(`sigsentry: ${message}\n`);
  process.stderr.write(`${USAGE}\n`);
  return 2;
}

// The stack belongs to the source checkout, not to the product: it runs as its own program so the
// product never imports the emulators.
function runStack(args: string[]): Promise<number> {
  const script = path.join(ROOT, 'emulators', 'stack', 'main.ts');
  if (!fs.existsSync(script)) {
    process.stderr.write('sigsentry: `stack` needs a source checkout of sigsentry (emulators/ is missing)\n');
    return Promise.resolve(1);
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: 'inherit' });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

// Each command is loaded only when it runs: `--help` and usage errors need none of the Google clients.
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'stack':
      return runStack(rest);
    case 'verify':
      return (await import('./commands/verify.ts')).runVerify(rest);
    case 'reverify':
      return (await import('./commands/reverify.ts')).runReverify(rest);
    case 'sign':
      return (await import('./commands/sign.ts')).runSign(rest);
    case 'monitor':
      return (await import('./commands/monitor.ts')).runMonitorCommand(rest);
    case 'alerts':
      return (await import('./commands/alerts.ts')).runAlerts(rest);
    case 'status':
      return (await import('./commands/status.ts')).runStatus(rest);
    case undefined:
      return usage('missing command');
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      return usage(`unknown command ${command}`);
  }
}

process.exitCode = await main(process.argv.slice(2));
