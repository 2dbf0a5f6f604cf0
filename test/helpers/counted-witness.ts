/**
 * signOnPush's witness on a test log as the function builds it from its environment (verifying the
 * log's answers), its calls counted: a test tells "no new log entry" from the count and the log's
 * tree size.
 */
import type { Witness } from '@sigstore/sign';
import { signOnPushDepsFromEnv } from '../../functions/sign-on-push/from-env.ts';
import type { LogKey } from '../../functions/verify/trust.ts';
import { TEST_KEY_VERSION } from './sign-on-push-core.ts';

export function countedWitness(
  watchHost: string,
  rekor: { url: string; publicKeyPem: string },
): { witness: Witness; signingLog: LogKey; counted: { calls: number } } {
  const deps = signOnPushDepsFromEnv({
    GCP_PROJECT: 'p',
    SIGSENTRY_WATCH: `${watchHost}/team/**`,
    KMS_KEY: TEST_KEY_VERSION,
    KMS_ENDPOINT: '127.0.0.1:9',
    REKOR_URL: rekor.url,
    REKOR_PUBLIC_KEY: rekor.publicKeyPem,
  });
  const inner = deps.witness!;
  const counted = { calls: 0 };
  const witness: Witness = {
    testify: (...args) => {
      counted.calls++;
      return inner.testify(...args);
    },
  };
  return { witness, signingLog: deps.signingLog!, counted };
}

/** The test log's tree size, as its API says. */
export async function logTreeSize(rekorUrl: string): Promise<number> {
  const res = await fetch(`${rekorUrl}/api/v1/log`);
  return ((await res.json()) as { treeSize: number }).treeSize;
}
