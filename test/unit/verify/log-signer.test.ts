/**
 * The log entry behind a signature must record the expected key (cosign comparePublicKey, sigstore-go
 * CompareKey). An ECDSA signature by the expected key also verifies under a second key anyone can
 * compute (other-key.ts), so the Rekor emulator, verifying as Rekor does, logs it under that key.
 */
import assert from 'node:assert/strict';
import crypto, { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { bundleToJSON } from '@sigstore/bundle';
import { DSSEBundleBuilder } from '@sigstore/sign';
import type { RekorServer } from '../../../emulators/rekor/server.ts';
import type { StoredCosignSignature } from '../../../functions/attach/cosign-layout.ts';
import { parseRekorBundle, serializeRekorBundle } from '../../../functions/attach/rekor-bundle.ts';
import {
  buildSimpleSigningPayload,
  SIMPLE_SIGNING_MEDIA_TYPE,
} from '../../../functions/attach/simple-signing.ts';
import { IN_TOTO_PAYLOAD_TYPE, inTotoStatement } from '../../../functions/sign-on-push/core.ts';
import { LocalSigner } from '../../../functions/signing/local-signer.ts';
import { checkBundleSignature } from '../../../functions/verify/bundle-signature.ts';
import type { VerifierTrust } from '../../../functions/verify/check.ts';
import { checkCosignSignature } from '../../../functions/verify/cosign-signature.ts';
import { expectedKeyFromPem, type ImagePolicy } from '../../../functions/verify/policy.ts';
import { logKey } from '../../../functions/verify/trust.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';
import { selfSignedCertificate, toPem } from '../../helpers/test-cert.ts';
import { otherVerifyingKey } from './other-key.ts';

/** A Rekor v1 entry as POST /api/v1/log/entries returns it. */
interface LoggedEntry {
  body: string;
  integratedTime: number;
  logID: string;
  logIndex: number;
  verification: {
    signedEntryTimestamp: string;
    inclusionProof: {
      logIndex: number;
      rootHash: string;
      treeSize: number;
      hashes: string[];
      checkpoint: string;
    };
  };
}

const image = { host: 'registry.example', repository: 'team/app', digest: `sha256:${'c'.repeat(64)}` };
const pemOf = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString();
const b64 = (text: string) => Buffer.from(text).toString('base64');
const hexToB64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');

function hashedRekord(payload: Buffer, signature: Buffer, verifierPem: string): unknown {
  return {
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      data: {
        hash: { algorithm: 'sha256', value: crypto.createHash('sha256').update(payload).digest('hex') },
      },
      signature: { content: signature.toString('base64'), publicKey: { content: b64(verifierPem) } },
    },
  };
}

/** A bundle's tlog entry for a logged DSSE entry, with its SET and inclusion proof. */
function bundleTlogEntry(e: LoggedEntry): unknown {
  const proof = e.verification.inclusionProof;
  return {
    logIndex: String(e.logIndex),
    logId: { keyId: hexToB64(e.logID) },
    kindVersion: { kind: 'dsse', version: '0.0.1' },
    integratedTime: String(e.integratedTime),
    inclusionPromise: { signedEntryTimestamp: e.verification.signedEntryTimestamp },
    inclusionProof: {
      logIndex: String(proof.logIndex),
      rootHash: hexToB64(proof.rootHash),
      treeSize: String(proof.treeSize),
      hashes: proof.hashes.map(hexToB64),
      checkpoint: { envelope: proof.checkpoint },
    },
    canonicalizedBody: e.body,
  };
}

/** A `.sig` layer for `payload`, its bundle annotation made from the logged entry. */
function cosignLayer(payload: Buffer, signature: Buffer, e: LoggedEntry): StoredCosignSignature {
  const annotation = serializeRekorBundle({
    SignedEntryTimestamp: e.verification.signedEntryTimestamp,
    Payload: { body: e.body, integratedTime: e.integratedTime, logIndex: e.logIndex, logID: e.logID },
  });
  return {
    layer: { mediaType: SIMPLE_SIGNING_MEDIA_TYPE, digest: `sha256:${'d'.repeat(64)}`, size: payload.length },
    payload,
    signature: signature.toString('base64'),
    bundleAnnotation: annotation,
    bundle: parseRekorBundle(annotation),
    certificate: undefined,
    chain: undefined,
  };
}

describe('the key a log entry records', () => {
  let rekor: RekorServer;
  let log: TestLog;
  let trust: VerifierTrust;
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signer = new LocalSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  const policy: ImagePolicy = { keys: [expectedKeyFromPem(signer.publicKeyPem)], identities: [] };

  const append = async (entry: unknown): Promise<LoggedEntry> => {
    const res = await fetch(`${rekor.url}/api/v1/log/entries`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(entry),
    });
    assert.equal(res.status, 201, await res.clone().text());
    return Object.values((await res.json()) as Record<string, LoggedEntry>)[0]!;
  };

  before(async () => {
    log = await startTestLog('log-signer-rekor');
    rekor = log.rekor;
    trust = { logs: [logKey(rekor.url, rekor.publicKeyPem)] };
  });
  after(async () => {
    await log.stop();
  });

  it('bundle layout: our signature logged under another key is invalid, not valid', async () => {
    const statement = inTotoStatement(image);
    const unlogged = bundleToJSON(
      await new DSSEBundleBuilder({ signer, witnesses: [] }).create({
        data: statement,
        type: IN_TOTO_PAYLOAD_TYPE,
      }),
    ) as {
      dsseEnvelope: { signatures: Array<{ sig: string }> };
      verificationMaterial: { tlogEntries: unknown[] };
    };
    const envelope = unlogged.dsseEnvelope;
    const pae = Buffer.concat([
      Buffer.from(`DSSEv1 ${IN_TOTO_PAYLOAD_TYPE.length} ${IN_TOTO_PAYLOAD_TYPE} ${statement.length} `),
      statement,
    ]);
    const other = otherVerifyingKey(pae, Buffer.from(envelope.signatures[0]!.sig, 'base64'), publicKey);
    const logged = await append({
      apiVersion: '0.0.1',
      kind: 'dsse',
      spec: { proposedContent: { envelope: JSON.stringify(envelope), verifiers: [b64(pemOf(other))] } },
    });
    unlogged.verificationMaterial.tlogEntries = [bundleTlogEntry(logged)];

    const finding = checkBundleSignature(
      Buffer.from(JSON.stringify(unlogged)),
      'referrer',
      image,
      policy,
      trust,
    );
    assert.equal(finding.outcome, 'invalid');
    assert.match(finding.reason ?? '', /records key .*not the expected key/);
    assert.equal(finding.signer, policy.keys[0]!.id);
  });

  it('cosign layout: our signature logged under another key, as a key or in a certificate, is invalid', async () => {
    const payload = Buffer.from(buildSimpleSigningPayload(image));
    const signature = crypto.sign('sha256', payload, privateKey);
    const other = otherVerifyingKey(payload, signature, publicKey);
    const certificate = toPem(
      selfSignedCertificate(other, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey),
    );

    for (const [verifier, described] of [
      [pemOf(other), /records key /],
      [certificate, /records a certificate for key /],
    ] as const) {
      const logged = await append(hashedRekord(payload, signature, verifier));
      const finding = checkCosignSignature(cosignLayer(payload, signature, logged), image, policy, trust);
      assert.equal(finding.outcome, 'invalid', finding.reason);
      assert.match(finding.reason ?? '', described);
      assert.match(finding.reason ?? '', /not the expected key/);
    }

    // A certificate for the expected key itself is the expected key.
    const ours = toPem(selfSignedCertificate(publicKey, privateKey));
    const logged = await append(hashedRekord(payload, signature, ours));
    const finding = checkCosignSignature(cosignLayer(payload, signature, logged), image, policy, trust);
    assert.equal(finding.outcome, 'valid', finding.reason);
  });
});
