/**
 * Checks on what signOnPush produced, made the way a verifier would: from the registry, the log
 * and Firestore, never from the function's own logs.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { Firestore } from '@google-cloud/firestore';
import { bundleFromJSON } from '@sigstore/bundle';
import { type TrustMaterial, toSignedEntity, Verifier } from '@sigstore/verify';
import { createKmsClient } from '../../functions/signing/kms-client.ts';
import { kmsPublicKey } from '../../functions/signing/kms-signer.ts';
import { recordId, SIGNING_RECORDS, type SigningRecord } from '../../functions/state/signing-records.ts';
import type { TestStack } from './stack.ts';

export async function signingKeyPem(stack: TestStack): Promise<string> {
  const client = createKmsClient({ endpoint: stack.env.KMS_ENDPOINT! });
  try {
    return (await kmsPublicKey(client, stack.env.KMS_KEY!)).pem;
  } finally {
    await client.close();
  }
}

export function rekorKeyPem(stack: TestStack): string {
  return fs.readFileSync(stack.env.REKOR_PUBLIC_KEY_FILE!, 'utf8');
}

/** Trust material for @sigstore/verify: the stack's log key and the KMS key that signs. */
export function trustMaterial(stack: TestStack, signingPem: string): TrustMaterial {
  const logKey = crypto.createPublicKey(rekorKeyPem(stack));
  const forever = { start: new Date(0), end: new Date(8.64e15) };
  return {
    certificateAuthorities: [],
    timestampAuthorities: [],
    ctlogs: [],
    tlogs: [
      {
        logID: crypto
          .createHash('sha256')
          .update(logKey.export({ format: 'der', type: 'spki' }))
          .digest(),
        baseURL: stack.env.REKOR_URL!,
        publicKey: logKey,
        validFor: forever,
      },
    ],
    publicKey: () => ({ publicKey: crypto.createPublicKey(signingPem), validFor: () => true }),
  };
}

/** Verifies a Sigstore bundle with @sigstore/verify; throws when it does not verify. */
export function verifyBundle(stack: TestStack, signingPem: string, bundleJson: unknown): void {
  const bundle = bundleFromJSON(bundleJson);
  new Verifier(trustMaterial(stack, signingPem), { tlogThreshold: 1, ctlogThreshold: 0 }).verify(
    toSignedEntity(bundle),
  );
}

/** The UUIDs of log entries indexed under sha256:HEX. */
export async function logEntriesWithHash(stack: TestStack, sha256Hex: string): Promise<string[]> {
  const res = await fetch(`${stack.env.REKOR_URL}/api/v1/index/retrieve`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ hash: `sha256:${sha256Hex}` }),
  });
  if (!res.ok) throw new Error(`index/retrieve answered ${res.status}`);
  return (await res.json()) as string[];
}

export function signingRecords(stack: TestStack): {
  db: Firestore;
  get(image: string): Promise<SigningRecord | undefined>;
} {
  const db = new Firestore({ projectId: stack.env.GCP_PROJECT });
  return {
    db,
    async get(image) {
      const snap = await db.collection(SIGNING_RECORDS).doc(recordId(image, stack.env.KMS_KEY!)).get();
      return snap.exists ? (snap.data() as SigningRecord) : undefined;
    },
  };
}

export async function waitForState(
  records: ReturnType<typeof signingRecords>,
  image: string,
  state: SigningRecord['state'],
  timeoutMs = 30_000,
): Promise<SigningRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const record = await records.get(image);
    if (record?.state === state) return record;
    if (Date.now() > deadline) {
      throw new Error(
        `${image} did not reach state ${state} in ${timeoutMs} ms (now ${record?.state ?? 'no record'})`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

export const sha256Hex = (bytes: Uint8Array | string) =>
  crypto.createHash('sha256').update(bytes).digest('hex');
