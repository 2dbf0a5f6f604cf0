/** Argument parsing shared by the commands: a usage error is exit 2 with the command's usage. */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { say } from './stack-env.ts';

export class UsageError extends Error {}

export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  argv: string[],
  options: T,
  usage: string,
  { positionals = 0 }: { positionals?: number } = {},
): { values: Record<string, string | boolean | undefined>; positionals: string[] } | number {
  try {
    const parsed = parseArgs({ args: argv, options, allowPositionals: positionals > 0 });
    if (parsed.positionals.length > positionals)
      throw new UsageError(`unexpected argument ${parsed.positionals[positionals]}`);
    return {
      values: parsed.values as Record<string, string | boolean | undefined>,
      positionals: parsed.positionals,
    };
  } catch (err) {
    say(`sigsentry ${command}: ${(err as Error).message}`);
    say(usage);
    return 2;
  }
}

/** Reads REKOR_PUBLIC_KEY from REKOR_PUBLIC_KEY_FILE (the local stack's form) when only the file is given. */
export async function withRekorKey(env: NodeJS.ProcessEnv): Promise<NodeJS.ProcessEnv> {
  if (env.REKOR_PUBLIC_KEY || !env.REKOR_PUBLIC_KEY_FILE) return env;
  const fs = await import('node:fs');
  return { ...env, REKOR_PUBLIC_KEY: fs.readFileSync(env.REKOR_PUBLIC_KEY_FILE, 'utf8') };
}
