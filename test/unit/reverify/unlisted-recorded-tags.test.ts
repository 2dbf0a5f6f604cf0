/**
 * What a pass re-checks when a listing fails: a host whose catalog cannot be read has the tags
 * recorded under its watched repositories judged by name (a tag moved meanwhile raises its alerts
 * in that pass, not a day later as `verification-stale`), and a re-check that cannot read the
 * recorded tags says so in the pass's error and its ERROR line instead of passing over it.
 * Real registry behind a proxy that fails the catalog or floods a tag list.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DependencyError } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { reverifyOnce } from '../../../functions/reverify/core.ts';
import { MemoryTagStore, type TagStore } from '../../../functions/reverify/store.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import { reverifyHarness, statusOf } from '../../helpers/reverify.ts';
import { signImage } from '../../helpers/sign-image.ts';

describe('recorded tags re-checked in place of a failed listing', () => {
  let catalogDown = false;
  let flood = false;
  const harness = reverifyHarness('unlisted-recorded-rekor', {
    intercept: async (req, res) => {
      if (catalogDown && req.url.pathname === '/v2/_catalog') {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('catalog unavailable');
        return true;
      }
      if (flood && req.url.pathname.endsWith('/unread/app/tags/list')) {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('tag list unavailable');
        return true;
      }
      return false;
    },
  });
  const signed = async (repository: string, tag: string) => {
    const image = await harness.push(repository, tag, `release ${repository} ${tag}`);
    await signImage(
      { registry: harness.registry, signer: harness.signer, rekorUrl: harness.rekor.url },
      image,
    );
  };

  it('judges by name the recorded tags of a host whose catalog cannot be read, of its watched repositories only', async () => {
    const store = new MemoryTagStore();
    const alerts = new RecordingAlertSink();
    const logger = createMemoryLogger();
    const watch = [`${harness.host}/catalog-down/**`];
    const prod = harness.ref('catalog-down/app', 'prod');
    const stable = harness.ref('catalog-down/app', 'stable');
    const other = harness.ref('not-watched/app', 'v1');
    await signed('catalog-down/app', 'prod');
    await signed('catalog-down/app', 'stable');
    await signed('not-watched/app', 'v1');
    const first = await reverifyOnce(harness.deps({ store, alerts, watch }));
    assert.equal(statusOf(first, prod), 'valid');
    assert.equal(statusOf(first, stable), 'valid');
    // A verdict of a repository no longer watched (it was once): recorded under the same host.
    await reverifyOnce(harness.deps({ store, alerts, watch: [`${harness.host}/not-watched/**`] }));
    assert.deepEqual(await store.recordedTagsOfHost(harness.host, 10), [prod, stable, other].sort());

    await harness.push('catalog-down/app', 'prod', 'unsigned build');
    catalogDown = true;
    try {
      const pass = await reverifyOnce(harness.deps({ store, alerts, watch, logger }));
      assert.equal(statusOf(pass, prod), 'unsigned');
      assert.equal(statusOf(pass, stable), 'valid');
      assert.equal(statusOf(pass, other), undefined, 'a repository no longer watched is not judged');
      assert.deepEqual(alerts.openKinds(prod), ['tag-moved', 'unsigned-image']);
      assert.deepEqual(
        pass.errors.map((e) => e.ref),
        [harness.host],
        'the catalog is still an error of the pass',
      );
      assert.match(
        pass.errors[0]!.error,
        /could not list the repositories of .*; 2 recorded tags re-checked by name$/,
      );
      const line = logger.entries.find((e) => e.severity === 'ERROR' && e.repository === harness.host);
      assert.equal(line?.rechecked, 2);
    } finally {
      catalogDown = false;
    }
  });

  it('says so when the recorded tags cannot be read, for a host and for a repository', async () => {
    const memory = new MemoryTagStore();
    const failing: TagStore = Object.assign(Object.create(memory) as MemoryTagStore, {
      recordedTags: async () => {
        throw new DependencyError('firestore', 'reading the recorded tags failed: 14 UNAVAILABLE');
      },
      recordedTagsOfHost: async () => {
        throw new DependencyError('firestore', 'reading the recorded tags failed: 14 UNAVAILABLE');
      },
    });
    const alerts = new RecordingAlertSink();
    const watch = [`${harness.host}/unread/**`];
    await signed('unread/app', 'v1');
    await reverifyOnce(harness.deps({ store: memory, alerts, watch }));

    for (const [down, subject] of [
      ['catalog', harness.host],
      ['tags', `${harness.host}/unread/app`],
    ] as const) {
      catalogDown = down === 'catalog';
      flood = down === 'tags';
      const logger = createMemoryLogger();
      try {
        const pass = await reverifyOnce(harness.deps({ store: failing, alerts, watch, logger }));
        assert.deepEqual(pass.outcomes, [], down);
        assert.deepEqual(
          pass.errors.map((e) => e.ref),
          [subject],
        );
        assert.match(
          pass.errors[0]!.error,
          /; no recorded tag re-checked by name: reading the recorded tags failed: 14 UNAVAILABLE$/,
          down,
        );
        const line = logger.entries.find((e) => e.severity === 'ERROR' && e.repository === subject);
        assert.match(
          line?.message ?? '',
          /no recorded tag re-checked by name.*the last verdicts of its tags stand$/,
        );
      } finally {
        catalogDown = false;
        flood = false;
      }
    }
  });
});
