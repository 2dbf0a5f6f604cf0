/** Entries for the monitor to find in the stack's Rekor log. */
import crypto from 'node:crypto';
import { MessageSignatureBundleBuilder, RekorWitness } from '@sigstore/sign';
import { createKmsClient } from '../../functions/signing/kms-client.ts';
import { KmsSigner } from '../../functions/signing/kms-signer.ts';
import type { RekorV1Client } from '../../functions/tlog/client/rekor-v1.ts';
import { hashedRekordProposal } from './hashedrekord.ts';
import type { TestStack } from './stack.ts';

/** A hashedrekord entry by a fresh key nobody owns. */
export async function appendForeignEntry(rekor: RekorV1Client): Promise<void> {
  const key = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await rekor.append(hashedRekordProposal(key, crypto.randomBytes(16)).body);
}

/** An entry signed with the stack's KMS key outside sigsentry (a rogue signature); its log index. */
export async function appendRogueEntry(stack: TestStack, label: string): Promise<number> {
  const signer = new KmsSigner({
    client: createKmsClient({ endpoint: stack.env.KMS_ENDPOINT! }),
    keyVersion: stack.env.KMS_KEY!,
  });
  const bundle = await new MessageSignatureBundleBuilder({
    signer,
    witnesses: [new RekorWitness({ rekorBaseURL: stack.env.REKOR_URL!, fetchOnConflict: true })],
  }).create({ data: Buffer.from(`${label} ${crypto.randomUUID()}`) });
  return Number(bundle.verificationMaterial.tlogEntries[0]!.logIndex);
}
