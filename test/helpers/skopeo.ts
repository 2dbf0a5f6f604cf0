import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** `skopeo copy` to a plain-http loopback registry, preserving the manifest digest. */
export async function skopeoCopy(
  source: string,
  destination: string,
  opts: { all?: boolean } = {},
): Promise<void> {
  await run('skopeo', [
    'copy',
    '--quiet',
    '--preserve-digests',
    ...(opts.all ? ['--all'] : []),
    '--dest-tls-verify=false',
    source,
    destination,
  ]);
}
