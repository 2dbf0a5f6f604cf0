import fs from 'node:fs';
import { InvalidInputError } from '../errors.ts';

/**
 * The transparency log's public key (PEM): REKOR_PUBLIC_KEY, or the file REKOR_PUBLIC_KEY_FILE
 * names (how the local stack passes it). Undefined when neither is set.
 */
export function logPublicKeyFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  if (env.REKOR_PUBLIC_KEY) return env.REKOR_PUBLIC_KEY;
  if (env.REKOR_PUBLIC_KEY_FILE) {
    try {
      return fs.readFileSync(env.REKOR_PUBLIC_KEY_FILE, 'utf8');
    } catch (err) {
      throw new InvalidInputError(`cannot read REKOR_PUBLIC_KEY_FILE: ${(err as Error).message}`);
    }
  }
  return undefined;
}
