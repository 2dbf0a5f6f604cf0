/**
 * A signature whose Rekor entry is the log's first (log index 0). Protobuf JSON (protojson, as
 * sigstore-go, cosign 3 and bundleToJSON write bundles) leaves a zero int64 out, so such a bundle has
 * no `logIndex`, in its tlog entry nor in its inclusion proof: a missing proto3 int64 means 0. Cosign's
 * `dev.sigstore.cosign/bundle` annotation writes the 0. Every case signs into a fresh log so its entry
 * is at index 0 (the other verify tests append a filler entry first to stay off it).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { bundleToJSON } from '@sigstore/bundle';
import { DSSEBundleBuilder, MessageSignatureBundleBuilder, RekorWitness } from '@sigstore/sign';
import type { StoredCosignSignature } from '../../../functions/attach/cosign-layout.ts';
import { parseRekorBundle, serializeRekorBundle } from '../../../functions/attach/rekor-bundle.ts';
import {
  buildSimpleSigningPayload,
  SIMPLE_SIGNING_MEDIA_TYPE,
} from '../../../functions/attach/simple-signing.ts';
import { InclusionRechecker } from '../../../functions/reverify/inclusion.ts';
import {
  IN_TOTO_PAYLOAD_TYPE,
  inTotoStatement,
  toCosignRekorBundle,
} from '../../../functions/sign-on-push/core.ts';
import { LocalSigner } from '../../../functions/signing/local-signer.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import { checkBundleSignature } from '../../../functions/verify/bundle-signature.ts';
import type { VerifierTrust } from '../../../functions/verify/check.ts';
import { checkCosignSignature } from '../../../functions/verify/cosign-signature.ts';
import { expectedKeyFromPem, type ImagePolicy } from '../../../functions/verify/policy.ts';
import { logKey } from '../../../functions/verify/trust.ts';
import type { LogEvidence, SignatureFinding } from '../../../functions/verify/verdict.ts';
import { startTestLog } from '../../helpers/rekor.ts';

const image = { host: 'registry.example', repository: 'team/app', digest: `sha256:${'c'.repeat(64)}` };

interface JsonTlogEntry {
  logIndex?: string;
  inclusionProof?: { logIndex?: string; treeSize?: string; hashes?: string[] };
}
interface JsonBundle {
  verificationMaterial: { tlogEntries: JsonTlogEntry[] };
}

describe('a signature whose log entry is at log index 0', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signer = new LocalSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  const policy: ImagePolicy = { keys: [expectedKeyFromPem(signer.publicKeyPem)], identities: [] };

  /** A new, empty Rekor log for one test, closed when it ends. */
  const freshLog = async (t: TestContext) => {
    const { rekor, stop } = await startTestLog('log-index-zero');
    t.after(stop);
    const trust: VerifierTrust = { logs: [logKey(rekor.url, rekor.publicKeyPem)] };
    const witnesses = [
      new RekorWitness({ rekorBaseURL: rekor.url, entryType: 'dsse', fetchOnConflict: true }),
    ];
    const client = new RekorV1Client({ baseUrl: rekor.url, logKey: rekor.publicKeyPem });
    return { rekor, trust, witnesses, client };
  };

  /** The finding is valid and its log evidence names index 0, which re-checks against the log. */
  const assertValidAtZero = async (
    finding: SignatureFinding,
    log: Awaited<ReturnType<typeof freshLog>>,
  ): Promise<LogEvidence> => {
    assert.equal(finding.outcome, 'valid', finding.reason);
    assert.equal(finding.signer, policy.keys[0]!.id);
    assert.equal(finding.log?.length, 1);
    const evidence = finding.log![0]!;
    assert.equal(evidence.logIndex, 0);
    assert.equal(evidence.logId, log.trust.logs[0]!.logId);
    const rechecker = new InclusionRechecker({ client: log.client, baseUrl: log.rekor.url });
    const { rootHash, origin } = await log.client.getCheckpoint();
    assert.deepEqual(await rechecker.recheck(evidence), {
      ok: true,
      treeSize: 1,
      rootHash: rootHash.toString('hex'),
      origin,
    });
    return evidence;
  };

  it('cosign .sig layout: the bundle annotation with "logIndex":0 verifies', async (t) => {
    const log = await freshLog(t);
    const payload = Buffer.from(buildSimpleSigningPayload(image, { test: 'yes' }));
    const signed = bundleToJSON(
      await new MessageSignatureBundleBuilder({ signer, witnesses: log.witnesses }).create({ data: payload }),
    );
    // protojson left the zero out; the annotation made from it (as signOnPush makes it) writes it.
    assert.equal((signed as unknown as JsonBundle).verificationMaterial.tlogEntries[0]!.logIndex, undefined);
    const rekorBundle = toCosignRekorBundle(signed);
    assert.equal(rekorBundle.Payload.logIndex, 0);
    const annotation = serializeRekorBundle(rekorBundle);
    assert.match(annotation, /"logIndex":0[,}]/);

    const layer: StoredCosignSignature = {
      layer: {
        mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
        digest: `sha256:${'d'.repeat(64)}`,
        size: payload.length,
      },
      payload,
      signature: (signed as { messageSignature: { signature: string } }).messageSignature.signature,
      bundleAnnotation: annotation,
      bundle: parseRekorBundle(annotation),
      certificate: undefined,
      chain: undefined,
    };
    assert.equal(layer.bundle?.Payload.logIndex, 0);
    await assertValidAtZero(checkCosignSignature(layer, image, policy, log.trust), log);
  });

  it('Sigstore bundle: verifies with logIndex omitted (protojson) and with logIndex "0" written', async (t) => {
    const log = await freshLog(t);
    const statement = inTotoStatement(image);
    const omitted = bundleToJSON(
      await new DSSEBundleBuilder({ signer, witnesses: log.witnesses }).create({
        data: statement,
        type: IN_TOTO_PAYLOAD_TYPE,
      }),
    ) as unknown as JsonBundle;
    const entry = omitted.verificationMaterial.tlogEntries[0]!;
    // As sigstore-go and cosign 3 write it: no logIndex in the entry nor in its inclusion proof.
    assert.equal(entry.logIndex, undefined);
    assert.ok(entry.inclusionProof !== undefined, 'the bundle carries an inclusion proof');
    assert.equal(entry.inclusionProof.logIndex, undefined);
    assert.equal(entry.inclusionProof.treeSize, '1');

    const written = structuredClone(omitted);
    const writtenEntry = written.verificationMaterial.tlogEntries[0]!;
    writtenEntry.logIndex = '0';
    writtenEntry.inclusionProof!.logIndex = '0';

    for (const [form, bundle] of [
      ['logIndex omitted', omitted],
      ['logIndex "0"', written],
    ] as const) {
      const bytes = Buffer.from(JSON.stringify(bundle));
      const finding = checkBundleSignature(bytes, 'referrer', image, policy, log.trust);
      assert.equal(finding.outcome, 'valid', `${form}: ${finding.reason}`);
      await assertValidAtZero(finding, log);
    }
  });

  it('the log client reads and checks the entry at index 0', async (t) => {
    const log = await freshLog(t);
    const payload = Buffer.from(buildSimpleSigningPayload(image));
    await new MessageSignatureBundleBuilder({ signer, witnesses: log.witnesses }).create({ data: payload });
    const byIndex = await log.client.getEntryByIndex(0);
    assert.equal(byIndex.logIndex, 0);
    assert.equal(byIndex.verification?.inclusionProof?.logIndex, 0);
    const [ranged] = await log.client.getEntries(0, 1, await log.client.getCheckpoint());
    assert.equal(ranged?.uuid, byIndex.uuid);
  });
});
