/**
 * The bench's instances run compiled JavaScript, as a deployed function does: infra/package-source.sh
 * deploys `npm run build`'s output, not the TypeScript source. Node's type stripping of the source
 * costs an instance about 40 MiB of RSS and 5 MB of heap that a deployed function does not carry
 * (a 20,000-entry v2 scan peaked at 192 MiB from source, 148 compiled).
 *
 * functions/, emulators/, test/bench/ and test/helpers/ are compiled once per bench process, with
 * the repository's compiler options, into a temporary directory beside a link to node_modules; it
 * is removed when the bench exits.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');
const COMPILED = ['functions', 'emulators', 'test/bench', 'test/helpers'];

let outDir: string | undefined;

function compile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sigsentry-bench-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const tsconfig = join(dir, 'tsconfig.json');
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: join(ROOT, 'tsconfig.json'),
      compilerOptions: {
        noEmit: false,
        outDir: join(dir, 'out'),
        rootDir: ROOT,
        typeRoots: [join(ROOT, 'node_modules/@types')],
      },
      include: COMPILED.map((d) => join(ROOT, d)),
    }),
  );
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const run = spawnSync(process.execPath, [tsc, '-p', tsconfig], { encoding: 'utf8' });
  if (run.status !== 0)
    throw new Error(`compiling the bench's instances failed:\n${run.stdout}${run.stderr}`);
  const out = join(dir, 'out');
  // Bare imports resolve from the repository's packages; the compiled files are ES modules.
  symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'), 'dir');
  writeFileSync(join(out, 'package.json'), JSON.stringify({ type: 'module' }));
  return out;
}

/**
 * Compiles now, if not yet done: a bench that times its instances from outside (the fan-out's wall
 * time) calls it first, so that the compilation is not in the time.
 */
export function compileInstanceScripts(): string {
  outDir ??= compile();
  return outDir;
}

/** The compiled twin of a TypeScript file of those folders (compiled on first use). */
export function compiledScript(script: string): string {
  const path = relative(ROOT, script);
  if (!COMPILED.some((d) => path.startsWith(`${d}/`)) || !path.endsWith('.ts'))
    throw new Error(`${script} is not a TypeScript file the bench compiles`);
  return join(compileInstanceScripts(), path.replace(/\.ts$/, '.js'));
}
