/** Entries for the monitor to find in the stack's Rekor log. */
import crypto from 'node:crypto';
import { MessageSignatureBundleBuilder, RekorWitness } from '@sigstore/sign';
import { createKmsClient } from '../../functions/signing/kms-client.ts';
import { KmsSigner } from '../../functions/signing/kms-signer.ts';
import type { RekorV1Client } from '../../functions/tlog/client/rekor-v1.ts';
import type { RekorV2Client } from '../../functions/tlog/client/rekor-v2.ts';
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

/** Signs as appendV2Entry wants: a P-256 signature and the signer's public key (DER SPKI). */
export interface V2EntrySigner {
  sign(data: Buffer): Promise<Buffer>;
  publicKeyDer: Buffer;
}

/** A V2EntrySigner over a local key pair. */
export function keyPairSigner(pair: {
  privateKey: crypto.KeyObject;
  publicKey: crypto.KeyObject;
}): V2EntrySigner {
  return {
    sign: async (data) => crypto.sign('sha256', data, pair.privateKey),
    publicKeyDer: pair.publicKey.export({ format: 'der', type: 'spki' }),
  };
}

/** A hashedrekord v0.0.2 entry in a tile log; signed by `signer` (default a fresh key nobody owns). */
export async function appendV2Entry(
  rekor: RekorV2Client,
  signer: V2EntrySigner = keyPairSigner(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })),
): Promise<number> {
  const data = crypto.randomBytes(16);
  const entry = await rekor.append({
    digest: crypto.createHash('sha256').update(data).digest(),
    signature: await signer.sign(data),
    keyDetails: 'PKIX_ECDSA_P256_SHA_256',
    publicKeyDer: signer.publicKeyDer,
  });
  return entry.logIndex;
}

/** Signs with the stack's KMS key outside sigsentry, as appendV2Entry's signer (a rogue signature). */
export async function kmsRogueSigner(stack: TestStack): Promise<V2EntrySigner> {
  const signer = new KmsSigner({
    client: createKmsClient({ endpoint: stack.env.KMS_ENDPOINT! }),
    keyVersion: stack.env.KMS_KEY!,
  });
  const { pem } = await signer.publicKey();
  return {
    sign: async (data) => (await signer.sign(data)).signature,
    publicKeyDer: crypto.createPublicKey(pem).export({ format: 'der', type: 'spki' }),
  };
}
