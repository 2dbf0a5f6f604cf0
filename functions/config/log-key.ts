import { createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import { InvalidInputError } from '../errors.ts';
import { embeddedPublicGoodTrustedRoot } from '../tlog/trust.ts';

function origin(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/**
 * The public key (PEM) of a log listed in the embedded Sigstore public-good trusted root, matched on
 * the base URL's scheme and host; of several entries, the last one still valid now. Undefined for any
 * other log.
 */
export function publicGoodLogKey(url: string, now: Date = new Date()): string | undefined {
  const wanted = origin(url);
  if (wanted === undefined) return undefined;
  const key = embeddedPublicGoodTrustedRoot()
    .tlogs.filter((t) => origin(t.baseUrl) === wanted)
    .map((t) => t.publicKey)
    .filter((k) => k?.rawBytes !== undefined && (k.validFor?.end === undefined || k.validFor.end > now))
    .at(-1);
  if (key?.rawBytes === undefined) return undefined;
  return createPublicKey({ key: Buffer.from(key.rawBytes), format: 'der', type: 'spki' })
    .export({ format: 'pem', type: 'spki' })
    .toString();
}

/**
 * The public key (PEM) of the log at `url`: REKOR_PUBLIC_KEY, or the file REKOR_PUBLIC_KEY_FILE names
 * (how the local stack passes it), or, when neither is set and the log is in the Sigstore public-good
 * trusted root (rekor.sigstore.dev), that log's key from the root. Any other log needs the key set.
 */
export function logPublicKeyFromEnv(env: NodeJS.ProcessEnv, url: string): string {
  if (env.REKOR_PUBLIC_KEY) return env.REKOR_PUBLIC_KEY;
  if (env.REKOR_PUBLIC_KEY_FILE) {
    try {
      return fs.readFileSync(env.REKOR_PUBLIC_KEY_FILE, 'utf8');
    } catch (err) {
      throw new InvalidInputError(`cannot read REKOR_PUBLIC_KEY_FILE: ${(err as Error).message}`);
    }
  }
  const key = publicGoodLogKey(url);
  if (key !== undefined) return key;
  throw new InvalidInputError(
    `the log ${url} is not in the Sigstore public-good trusted root: set REKOR_PUBLIC_KEY (PEM) or REKOR_PUBLIC_KEY_FILE`,
  );
}
