/**
 * Artifact Registry publishes every repository of the project to `gcr`: other regions' hosts,
 * `gcr.io`, sigsentry's own function image repository, a second installation's repositories. A push
 * to a host no watch rule names is an unwatched repository like any other: acknowledged, one INFO
 * line, nothing read, claimed or signed, no alert. (Until 2026-12-03 it was refused with a HIGH
 * `signing-refused` alert, while an unwatched repository on a watched host was skipped; found by
 * review.) What is watched but cannot be signed is still refused, with the alert.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AlertInput } from '../../../functions/alerts/alert.ts';
import { InProcessSubjectLock } from '../../../functions/attach/lock.ts';
import type { SignOnPushConfig } from '../../../functions/config/sign-config.ts';
import { toNotification } from '../../../functions/events/gcr-message.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryNotFoundError } from '../../../functions/registry/errors.ts';
import type { Registry } from '../../../functions/registry/registry.ts';
import { createSignOnPush } from '../../../functions/sign-on-push/core.ts';
import { createSignOnPushEntry } from '../../../functions/sign-on-push/entry.ts';
import type { SigningStore } from '../../../functions/state/signing-records.ts';
import { gcrEvent, TEST_KEY_VERSION } from '../../helpers/sign-on-push-core.ts';

const D = `sha256:${'a'.repeat(64)}`;

/** A dependency that records each call and answers it with `answer` (by default, an error). */
function recording<T extends object>(calls: string[], name: string, answer?: (method: string) => unknown): T {
  return new Proxy({} as T, {
    get:
      (_t, method) =>
      (...args: unknown[]) => {
        calls.push(`${name}.${String(method)}(${args.map((a) => JSON.stringify(a)).join(', ')})`);
        if (answer) return answer(String(method));
        throw new Error(`${name}.${String(method)} must not be called`);
      },
  });
}

/** signOnPush as infra/locals.tf configures it for watched_repositories = [{europe-west1, releases}]. */
function harness(
  watch = ['europe-west1-docker.pkg.dev/p/releases/**'],
  registryAnswer?: (m: string) => unknown,
) {
  const calls: string[] = [];
  const raised: AlertInput[] = [];
  const config: SignOnPushConfig = {
    project: 'p',
    watch: watch.map((repositories) => ({
      repositories,
      key: TEST_KEY_VERSION,
      formats: ['cosign'],
      signPlatformManifests: false,
    })),
    log: { kind: 'none' },
    annotations: {},
    maxAttempts: 10,
  } as SignOnPushConfig;
  const core = createSignOnPush({
    config,
    registry: recording<Registry>(calls, 'registry', registryAnswer),
    store: recording<SigningStore>(calls, 'store'),
    signerFor: (key) => {
      calls.push(`signerFor(${key})`);
      throw new Error('signerFor must not be called');
    },
    witness: undefined,
    lock: new InProcessSubjectLock(),
    alerts: { raise: async (a) => void raised.push(a), resolve: async () => {} },
    instanceId: 'unit',
  });
  const logger = createMemoryLogger();
  const entry = createSignOnPushEntry({ logger, core });
  return { calls, raised, logger, entry, core };
}

const UNWATCHED_HOSTS: Array<[string, Record<string, string>]> = [
  [
    "sigsentry's own function image repository in var.region",
    {
      action: 'INSERT',
      digest: `us-central1-docker.pkg.dev/p/sigsentry-functions/sigsentry--sign--on--push@${D}`,
    },
  ],
  [
    'another region (a second installation, another team)',
    {
      action: 'INSERT',
      digest: `us-east1-docker.pkg.dev/p/team-b/app@${D}`,
      tag: 'us-east1-docker.pkg.dev/p/team-b/app:latest',
    },
  ],
  [
    'a tag-only push in another region',
    { action: 'INSERT', tag: 'us-east1-docker.pkg.dev/p/releases/app:1' },
  ],
  ['a gcr.io repository', { action: 'INSERT', digest: `gcr.io/p/legacy@${D}` }],
  ['a host that is not Google', { action: 'INSERT', digest: `registry.example.com/p/releases/app@${D}` }],
  // The watched path on another host is another repository.
  [
    'the watched path in another region',
    { action: 'INSERT', digest: `europe-west4-docker.pkg.dev/p/releases/app@${D}` },
  ],
];

describe('signOnPush: a push to a host no watch rule names', () => {
  for (const [name, message] of UNWATCHED_HOSTS) {
    it(`is skipped like an unwatched repository, with no alert: ${name}`, async () => {
      const { calls, raised, logger, entry } = harness();
      await entry(gcrEvent(message)); // resolves: acknowledged, not redelivered
      assert.deepEqual(raised, [], 'no alert');
      assert.deepEqual(calls, [], 'nothing read from the registry, claimed or signed');
      assert.deepEqual(
        logger.entries.filter((e) => e.severity !== 'INFO' && e.severity !== 'DEBUG'),
        [],
        'no line above INFO',
      );
      const [host, rest] = (message.digest ?? message.tag)!.split(/\/(.*)/s) as [string, string];
      const repository = `${host}/${rest.replace(/[@:].*$/s, '')}`;
      assert.ok(
        logger.entries.some(
          (e) => e.severity === 'INFO' && e.message === `skipped: repository ${repository} is not watched`,
        ),
        JSON.stringify(logger.entries),
      );
    });
  }

  it('is skipped exactly as an unwatched repository on a watched host is', async () => {
    const outcome = async (digest: string) => {
      const { core } = harness();
      return core.sign(toNotification({ action: 'INSERT', digest }), createMemoryLogger());
    };
    assert.deepEqual(await outcome(`europe-west1-docker.pkg.dev/p/other/app@${D}`), {
      outcome: 'skipped',
      reason: 'repository europe-west1-docker.pkg.dev/p/other/app is not watched',
    });
    assert.deepEqual(await outcome(`us-east1-docker.pkg.dev/p/other/app@${D}`), {
      outcome: 'skipped',
      reason: 'repository us-east1-docker.pkg.dev/p/other/app is not watched',
    });
  });
});

describe('signOnPush: what is watched but cannot be signed is still refused, with the alert', () => {
  it('a digest of a watched repository that the registry does not have', async () => {
    const { calls, raised, logger, entry } = harness(undefined, () => {
      throw new RegistryNotFoundError('manifest unknown');
    });
    await entry(gcrEvent({ action: 'INSERT', digest: `europe-west1-docker.pkg.dev/p/releases/app@${D}` }));
    assert.equal(raised.length, 1);
    assert.equal(raised[0]!.kind, 'signing-refused');
    assert.equal(raised[0]!.severity, 'HIGH');
    assert.match(raised[0]!.summary, /is not in the registry/);
    assert.ok(calls[0]?.startsWith('registry.getManifest('), calls.join('\n'));
    assert.ok(!calls.some((c) => c.startsWith('store.') || c.startsWith('signerFor')), calls.join('\n'));
    assert.equal(logger.entries.filter((e) => e.message === 'refused gcr event').length, 1);
  });

  it('a rule whose host is not literal (only a configuration built past the loader) never reaches the registry', async () => {
    // The loader refuses such a rule (watch-rule-host.test.ts); if one got through, the glob would
    // match a host the registry client does not allow: refused, alerted, nothing read or signed.
    const { calls, raised, entry } = harness(['*-docker.pkg.dev/p/releases/**']);
    await entry(gcrEvent({ action: 'INSERT', digest: `us-east1-docker.pkg.dev/p/releases/app@${D}` }));
    assert.deepEqual(calls, []);
    assert.equal(raised.length, 1);
    assert.equal(raised[0]!.kind, 'signing-refused');
    assert.match(raised[0]!.summary, /host us-east1-docker\.pkg\.dev is outside the watched set/);
  });
});
