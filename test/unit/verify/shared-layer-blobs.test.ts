/**
 * A `.sig` manifest is anyone's to push to, and its layers may all name one payload blob: a read of
 * an image's signatures fetches each distinct blob once, whatever number of layers name it, and
 * still judges every layer (a readable one as a signature, an unreadable one as its own finding).
 * Before, each layer fetched its blob: 5,000 layers naming one blob were 5,000 GETs. Real
 * docker-registry and the Rekor emulator; blob GETs counted at the registry client.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SIGNATURE_ANNOTATION } from '../../../functions/attach/cosign-layout.ts';
import { SIMPLE_SIGNING_MEDIA_TYPE } from '../../../functions/attach/simple-signing.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import type { Registry } from '../../../functions/registry/registry.ts';
import { LocalSigner } from '../../../functions/signing/local-signer.ts';
import type { VerifierTrust } from '../../../functions/verify/check.ts';
import { expectedKeyFromPem, type ImagePolicy } from '../../../functions/verify/policy.ts';
import { collectSignatures } from '../../../functions/verify/sources.ts';
import { logKey } from '../../../functions/verify/trust.ts';
import { verifyImage } from '../../../functions/verify/verifier.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';
import { signImage } from '../../helpers/sign-image.ts';
import { rewriteSignatureManifest } from './tamper.ts';

/** Copies of a layer appended to the `.sig` manifest, of each kind. */
const COPIES = 50;

/** `registry`, counting its blob GETs by digest in `gets`. */
function countingBlobGets(registry: Registry, gets: Map<string, number>): Registry {
  return new Proxy(registry, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      if (property !== 'getBlob') return value.bind(target);
      return (...args: Parameters<Registry['getBlob']>) => {
        gets.set(args[1], (gets.get(args[1]) ?? 0) + 1);
        return target.getBlob(...args);
      };
    },
  });
}

describe('a `.sig` manifest whose layers share payload blobs', () => {
  let testRegistry: TestRegistry;
  let log: TestLog;
  let registry: RegistryClient;
  let trust: VerifierTrust;
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signer = new LocalSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  const policy: ImagePolicy = { keys: [expectedKeyFromPem(signer.publicKeyPem)], identities: [] };

  before(async () => {
    testRegistry = await startRegistry();
    log = await startTestLog('shared-layer-blobs-rekor', { unrelatedFirstEntry: true });
    registry = new RegistryClient({ allowedHosts: [testRegistry.host] });
    trust = { logs: [logKey(log.rekor.url, log.rekor.publicKeyPem)] };
  });
  after(async () => {
    await log.stop();
    await testRegistry.stop();
  });

  it('fetches each distinct blob once, and judges every layer', async () => {
    const pushed = await testRegistry.pushImage('team/shared', 'v1');
    const image = { host: testRegistry.host, repository: 'team/shared', digest: pushed.digest };
    await signImage({ registry, signer, rekorUrl: log.rekor.url, formats: ['cosign'] }, image);
    // An unreadable blob (past the payload bound) that many layers name, besides many copies of
    // the good layer: each a layer of its own to judge, two blobs to fetch.
    const oversized = await registry.putBlob(
      image,
      Buffer.alloc(300 * 1024, 0x20),
      SIMPLE_SIGNING_MEDIA_TYPE,
    );
    let good = '';
    await rewriteSignatureManifest(registry, image, (layers) => {
      const first = layers[0]!;
      good = first.digest;
      const unreadable = {
        mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
        digest: oversized.digest,
        size: oversized.size,
        annotations: { [SIGNATURE_ANNOTATION]: 'AAAA' },
      };
      layers.push(...Array.from({ length: COPIES }, () => ({ ...first })));
      layers.push(...Array.from({ length: COPIES }, () => ({ ...unreadable })));
    });

    const gets = new Map<string, number>();
    const sources = await collectSignatures(countingBlobGets(registry, gets), image);
    assert.equal(sources.cosign.length, 1 + COPIES, 'every readable layer is a signature to check');
    assert.equal(sources.cosignUnreadable?.length, COPIES, 'every unreadable layer is a finding');
    for (const unread of sources.cosignUnreadable ?? []) {
      assert.equal(unread.layer.digest, oversized.digest);
      assert.match(unread.error, /./);
    }
    assert.deepEqual(
      Object.fromEntries(gets),
      { [good]: 1, [oversized.digest]: 1 },
      'one GET per distinct blob',
    );

    // The verdict judges them all: the good copies valid, the unreadable ones by nobody expected.
    const verdict = await verifyImage({ registry, trust }, image, policy);
    assert.equal(verdict.status, 'valid', verdict.reasons.join('; '));
    const judged = (outcome: string) =>
      verdict.findings
        .filter((f) => f.layout === 'cosign' && f.outcome === outcome)
        .reduce((n, f) => n + 1 + (f.copies ?? 0), 0);
    assert.equal(judged('valid'), 1 + COPIES);
    assert.equal(judged('foreign') + (verdict.foreignOmitted ?? 0), COPIES);
  });
});
