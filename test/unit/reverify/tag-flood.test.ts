/**
 * A repository whose tag list cannot be read (flooded past the client's limits by someone who can
 * push, or an outage): the tags it has verdicts for are re-checked by name, so a tag moved to an
 * unsigned image meanwhile is alerted on in that pass, not a day later as `verification-stale`.
 * Real registry behind a proxy that adds 100,001 names to the repository's listing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reverifyOnce } from '../../../functions/reverify/core.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import { reverifyHarness, statusOf } from '../../helpers/reverify.ts';
import { signImage } from '../../helpers/sign-image.ts';

describe('a repository whose tag list cannot be read', () => {
  let flood = false;
  let gone = false;
  const harness = reverifyHarness('tag-flood-rekor', {
    intercept: async (req, res) => {
      if (gone && req.url.pathname.endsWith('/gone/app/tags/list')) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }],
          }),
        );
        return true;
      }
      if (!flood || req.method !== 'GET' || !req.url.pathname.endsWith('/flood/app/tags/list')) return false;
      const real = (await (await fetch(new URL(req.url.pathname, harness.testRegistry.url))).json()) as {
        name: string;
        tags: string[];
      };
      const tags = [...real.tags, ...Array.from({ length: 100_001 }, (_, i) => `junk-${i}`)];
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ name: real.name, tags }));
      return true;
    },
  });

  it('has the tags it has verdicts for judged by name: a tag moved meanwhile raises its alerts in that pass', async () => {
    const store = new MemoryTagStore();
    const alerts = new RecordingAlertSink();
    const deps = () => harness.deps({ store, alerts, watch: [`${harness.host}/flood/**`] });
    const v1 = harness.ref('flood/app', 'v1');
    const v2 = harness.ref('flood/app', 'v2');
    for (const tag of ['v1', 'v2']) {
      const image = await harness.push('flood/app', tag, `release ${tag}`);
      await signImage(
        { registry: harness.registry, signer: harness.signer, rekorUrl: harness.rekor.url },
        image,
      );
    }
    const first = await reverifyOnce(deps());
    assert.equal(statusOf(first, v1), 'valid');
    assert.equal(statusOf(first, v2), 'valid');

    await harness.push('flood/app', 'v1', 'unsigned build');
    flood = true;
    try {
      const flooded = await reverifyOnce(deps());
      assert.match(
        flooded.errors.map((e) => `${e.ref} ${e.error}`).join('\n'),
        /flood\/app/,
        'the listing is still an error of the pass',
      );
      assert.equal(statusOf(flooded, v1), 'unsigned');
      assert.equal(statusOf(flooded, v2), 'valid');
      assert.deepEqual(alerts.openKinds(v1), ['tag-moved', 'unsigned-image']);
      assert.equal(
        flooded.outcomes.some((o) => o.ref.includes(':junk-')),
        false,
        'nothing the flood listed is judged',
      );
    } finally {
      flood = false;
    }
  });
  it('does not re-check the tags of a repository the registry no longer has (its list answers 404)', async () => {
    const store = new MemoryTagStore();
    const alerts = new RecordingAlertSink();
    const deps = () => harness.deps({ store, alerts, watch: [`${harness.host}/gone/**`] });
    const image = await harness.push('gone/app', 'v1', 'release');
    await signImage(
      { registry: harness.registry, signer: harness.signer, rekorUrl: harness.rekor.url },
      image,
    );
    assert.equal(statusOf(await reverifyOnce(deps()), harness.ref('gone/app', 'v1')), 'valid');
    gone = true;
    try {
      const pass = await reverifyOnce(deps());
      assert.deepEqual(pass.outcomes, []);
      assert.deepEqual(
        pass.errors.map((e) => e.ref),
        [`${harness.host}/gone/app`],
        'one listing failure, no error per recorded tag',
      );
    } finally {
      gone = false;
    }
  });
});
