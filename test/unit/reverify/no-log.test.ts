/**
 * A deployment that signs without a transparency log (REKOR_URL=none, infra's rekor_url "none") is
 * re-verified by key alone: reverifyImages built from that configuration calls its own images valid,
 * where it called every one of them invalid ("no transparency log key is configured") on every pass.
 * With a log configured, a signature that has no entry in it is still refused.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RekorServer, startRekorServer } from '../../../emulators/rekor/server.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { loadReverifyConfig } from '../../../functions/reverify/config.ts';
import { createReverifyFromConfig } from '../../../functions/reverify/from-env.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { MemoryUnverifiedStore } from '../../../functions/reverify/unverified.ts';
import { LocalSigner } from '../../../functions/signing/local-signer.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { signImage } from '../../helpers/sign-image.ts';

describe('reverifyImages of a deployment that signs without a log', () => {
  let registry: TestRegistry;
  let rekor: RekorServer;
  let dir: string;
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const signer = new LocalSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());

  before(async () => {
    registry = await startRegistry();
    dir = mkdtempSync(join(tmpdir(), 'no-log-'));
    rekor = await startRekorServer({ dataDir: join(dir, 'rekor') });
    const client = new RegistryClient({ allowedHosts: [registry.host] });
    for (const format of ['cosign', 'bundle'] as const) {
      const pushed = await registry.pushImage('team/app', format);
      await signImage(
        { registry: client, signer, rekorUrl: undefined, formats: [format] },
        { host: registry.host, repository: 'team/app', digest: pushed.digest },
      );
    }
  });
  after(async () => {
    await registry?.stop();
    await rekor?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const pass = async (log: Record<string, string>) => {
    const config = loadReverifyConfig({
      GCP_PROJECT: 'p',
      SIGSENTRY_WATCH: `${registry.host}/team/app`,
      SIGSENTRY_PUBLIC_KEYS: publicKeyPem,
      ...log,
    });
    const alerts = new RecordingAlertSink();
    const runtime = await createReverifyFromConfig(config, {
      alerts,
      logger: createMemoryLogger(),
      store: new MemoryTagStore(),
      unverified: new MemoryUnverifiedStore(),
    });
    const summary = await runtime.run();
    assert.deepEqual(summary.errors, []);
    const status = (tag: string) =>
      summary.outcomes.find((o) => o.ref === `${registry.host}/team/app:${tag}`);
    return { cosign: status('cosign'), bundle: status('bundle'), alerts };
  };

  it('REKOR_URL=none: both layouts signed with no log entry are valid, and nothing is raised', async () => {
    const { cosign, bundle, alerts } = await pass({ REKOR_URL: 'none' });
    assert.equal(cosign?.status, 'valid', JSON.stringify(cosign));
    assert.equal(bundle?.status, 'valid', JSON.stringify(bundle));
    assert.deepEqual(alerts.openKinds(`${registry.host}/team/app:cosign`), []);
    assert.deepEqual(alerts.openKinds(`${registry.host}/team/app:bundle`), []);
  });

  it('with a log configured, the same signatures are invalid: they have no entry in it', async () => {
    const { cosign, bundle } = await pass({ REKOR_URL: rekor.url, REKOR_PUBLIC_KEY: rekor.publicKeyPem });
    assert.equal(cosign?.status, 'invalid', JSON.stringify(cosign));
    assert.equal(bundle?.status, 'invalid', JSON.stringify(bundle));
  });
});
