/**
 * An owned identity no test entry is signed with: for monitor tests whose entries do not matter,
 * since the monitor refuses to run with no owned identity.
 */
import { generateKeyPairSync } from 'node:crypto';
import { resolveIdentities } from '../../functions/monitor-log/identities.ts';

export function unrelatedIdentity(): ReturnType<typeof resolveIdentities> {
  return resolveIdentities(
    [
      {
        type: 'publicKey',
        pem: generateKeyPairSync('ec', { namedCurve: 'P-256' })
          .publicKey.export({ format: 'pem', type: 'spki' })
          .toString(),
      },
    ],
    () => Promise.reject(new Error('no KMS here')),
  );
}
