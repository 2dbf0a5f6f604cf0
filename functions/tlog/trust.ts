import { createRequire } from 'node:module';
import { TrustedRoot } from '@sigstore/protobuf-specs';

/**
 * The public-good trusted root embedded in @sigstore/tuf (its TUF seed), read without any network:
 * verification of public bundles must work offline and in tests. A deployment that wants fresher
 * roots refreshes through TUF; this is the floor.
 */
export function embeddedPublicGoodTrustedRoot(): TrustedRoot {
  const require = createRequire(import.meta.url);
  const seeds = require('@sigstore/tuf/seeds.json') as Record<string, { targets: Record<string, string> }>;
  const target = seeds['https://tuf-repo-cdn.sigstore.dev']?.targets['trusted_root.json'];
  if (target === undefined) throw new Error('@sigstore/tuf carries no embedded trusted_root.json');
  return TrustedRoot.fromJSON(JSON.parse(Buffer.from(target, 'base64').toString('utf8')));
}
