/** `.sigsentry/stack.env`: KEY=value lines, the one place the CLI, tests and outside tools find the stack. */
import fs from 'node:fs';

export type StackEnv = Record<string, string>;

export function writeStackEnv(file: string, env: StackEnv): void {
  const lines = Object.entries(env).map(([k, v]) => {
    if (/[\n\r]/.test(v)) throw new Error(`stack.env value for ${k} contains a newline`);
    return `${k}=${v}`;
  });
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
}

export function readStackEnv(file: string): StackEnv {
  const env: StackEnv = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}
