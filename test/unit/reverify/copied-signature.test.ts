/**
 * One image in two watched repositories, its `.sig` copied byte for byte from the one where it was
 * signed to the other: the copy names the first repository, so it is judged in the second on its own.
 * Found while binding keys to watch rules: a pass verified a digest once for every repository holding
 * it with the same signature manifest, so whichever copy it verified first gave the other its verdict
 * (the copy `valid`, or the original `invalid`, depending on which it met first).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { signatureTag } from '../../../functions/attach/cosign-layout.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { reverifyOnce } from '../../../functions/reverify/core.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { LocalSigner } from '../../../functions/signing/local-signer.ts';
import { expectedKeyFromPem } from '../../../functions/verify/policy.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { signImage } from '../../helpers/sign-image.ts';

describe('a signature copied to another watched repository', () => {
  let registry: TestRegistry;
  let client: RegistryClient;
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signer = new LocalSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());

  before(async () => {
    registry = await startRegistry();
    client = new RegistryClient({ allowedHosts: [registry.host] });
    const image = async (repository: string) => ({
      host: registry.host,
      repository,
      digest: (await registry.pushImage(repository, 'v1', 'one image')).digest,
    });
    const signed = await image('team/b-signed');
    await signImage({ registry: client, signer, rekorUrl: undefined, formats: ['cosign'] }, signed);
    const sig = await client.getManifest(signed, signatureTag(signed.digest));
    const manifest = JSON.parse(Buffer.from(sig.bytes).toString('utf8')) as {
      config: { digest: string; mediaType: string };
      layers: Array<{ digest: string; mediaType: string }>;
    };
    // Listed before and after it (the registry's catalog is in name order).
    for (const repository of ['team/a-copy', 'team/c-copy']) {
      const copied = await image(repository);
      assert.equal(copied.digest, signed.digest);
      for (const blob of [manifest.config, ...manifest.layers]) {
        await client.putBlob(copied, await client.getBlob(signed, blob.digest), blob.mediaType);
      }
      await client.putManifest(copied, signatureTag(copied.digest), sig.bytes, sig.descriptor.mediaType);
    }
  });
  after(async () => {
    await registry?.stop();
  });

  /** One pass over these repositories, a tag at a time so that they are verified in this order. */
  const pass = async (repositories: string[]) => {
    const summary = await reverifyOnce({
      registry: client,
      store: new MemoryTagStore(),
      alerts: new RecordingAlertSink(),
      trust: { logs: [] },
      ownedPolicy: { keys: [expectedKeyFromPem(signer.publicKeyPem)], identities: [], requireTlog: false },
      watch: repositories.map((repository) => `${registry.host}/${repository}`),
      watchlist: [],
      logger: createMemoryLogger(),
      concurrency: 1,
    });
    assert.deepEqual(summary.errors, []);
    return summary.outcomes.map((o) => [o.ref.slice(registry.host.length + 1), o.status]);
  };

  it("verified after the original, the copy is invalid there, not given the original's valid verdict", async () => {
    assert.deepEqual(await pass(['team/b-signed', 'team/c-copy']), [
      ['team/b-signed:v1', 'valid'],
      ['team/c-copy:v1', 'invalid'],
    ]);
  });

  it("verified before the original, the copy's invalid verdict is not given to the original", async () => {
    assert.deepEqual(await pass(['team/a-copy', 'team/b-signed']), [
      ['team/a-copy:v1', 'invalid'],
      ['team/b-signed:v1', 'valid'],
    ]);
  });
});
