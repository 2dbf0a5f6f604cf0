import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** `skopeo copy` to a plain-http loopback registry, preserving the manifest digest. */
export async function skopeoCopy(source: string, destination: string): Promise<void> {
  await run('skopeo', [
    'copy',
    '--quiet',
    '--preserve-digests',
    '--dest-tls-verify=false',
    source,
    destination,
  ]);
}
