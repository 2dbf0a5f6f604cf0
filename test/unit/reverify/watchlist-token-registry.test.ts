/**
 * reverifyImages built from its configuration reads watchlisted images on a registry that wants a
 * token (as Docker Hub and ghcr.io do) once the token realm is among SIGSENTRY_REGISTRY_REDIRECT_HOSTS,
 * and says which host it refused when it is not.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { loadReverifyConfig } from '../../../functions/reverify/config.ts';
import { createReverifyFromConfig } from '../../../functions/reverify/from-env.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { MemoryUnverifiedStore } from '../../../functions/reverify/unverified.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { startTokenServer, type TokenServer } from '../../helpers/token-server.ts';

describe('reverifyImages: a watchlist on a token-authenticated registry', () => {
  let tokens: TokenServer;
  let registry: TestRegistry;

  before(async () => {
    tokens = await startTokenServer();
    registry = await startRegistry({ tokenAuth: tokens });
    // Unsigned: the pass must be able to read it to say so.
    await registry.pushImage('vendor/base', 'v1');
  });
  after(async () => {
    await registry?.stop();
    await tokens?.stop();
  });
  beforeEach(() => {
    tokens.requests.length = 0;
  });

  const run = async (redirectHosts: string) => {
    const config = loadReverifyConfig({
      GCP_PROJECT: 'p',
      SIGSENTRY_WATCHLIST: JSON.stringify([
        {
          image: `${registry.host}/vendor/base:v1`,
          identity: 'https://github.com/vendor/base/.github/workflows/release.yml@refs/heads/main',
          issuer: 'https://token.actions.githubusercontent.com',
        },
      ]),
      SIGSENTRY_REGISTRY_REDIRECT_HOSTS: redirectHosts,
      // No network: the embedded public-good root (the default would refresh it from the CDN).
      SIGSTORE_TUF_URL: 'none',
    });
    const alerts = new RecordingAlertSink();
    const runtime = await createReverifyFromConfig(config, {
      alerts,
      logger: createMemoryLogger(),
      store: new MemoryTagStore(),
      unverified: new MemoryUnverifiedStore(),
    });
    return { summary: await runtime.run(), alerts };
  };

  it('reads the image on anonymous pull tokens and raises unsigned-image for it', async () => {
    const { summary, alerts } = await run(tokens.host);
    assert.deepEqual(summary.errors, []);
    assert.equal(summary.byStatus.unsigned, 1);
    assert.deepEqual(alerts.openKinds(`${registry.host}/vendor/base:v1`), ['unsigned-image']);
    assert.ok(tokens.requests.length >= 1);
    assert.ok(
      tokens.requests.every(
        (r) => r.authorization === undefined && r.scopes.join() === 'repository:vendor/base:pull',
      ),
    );
  });

  it('without the realm among the redirect hosts, the tag is an error naming the realm host, not a verdict', async () => {
    const { summary, alerts } = await run('');
    assert.equal(summary.errors.length, 1);
    assert.match(summary.errors[0]!.error, new RegExp(`${tokens.host}: not in the registry allowlist`));
    assert.equal(alerts.tagCalls.length, 0);
    assert.equal(tokens.requests.length, 0);
  });
});
