/**
 * A tag whose image carries thousands of signatures by others (7,000 referrers, under the registry
 * client's 10,000) is judged on all of them and stored with a bounded listing: found by review, its
 * record once exceeded Firestore's 1 MiB entity limit, so the `unsigned` verdict and its
 * `unsigned-image` alert were dropped and the old `valid` verdict stood. Passes after it reuse the
 * stored listing without a change or an alert.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { before, describe, it } from 'node:test';
import { DependencyError } from '../../../functions/errors.ts';
import type { RegistryClient } from '../../../functions/registry/client.ts';
import { RegistryNotFoundError } from '../../../functions/registry/errors.ts';
import type { Descriptor } from '../../../functions/registry/manifest.ts';
import { reverifyOnce } from '../../../functions/reverify/core.ts';
import { MemoryTagStore, type PutOutcome, type TagRecord } from '../../../functions/reverify/store.ts';
import { MAX_LISTED_FINDINGS } from '../../../functions/verify/verdict.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import { reverifyHarness, statusOf } from '../../helpers/reverify.ts';
import { signImage } from '../../helpers/sign-image.ts';

const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const FOREIGN = 7000;
/** Firestore's limit on a document: the store refuses a record whose JSON is larger, as Firestore would. */
const ENTITY_LIMIT = 1_048_576;

class EntitySizedStore extends MemoryTagStore {
  override async put(record: TagRecord, basis: TagRecord | undefined): Promise<PutOutcome> {
    if (Buffer.byteLength(JSON.stringify(record)) > ENTITY_LIMIT) {
      throw new DependencyError(
        'firestore',
        `writing the verdict of ${record.ref} failed: 3 INVALID_ARGUMENT: maximum entity size is 1048576 bytes`,
      );
    }
    return await super.put(record, basis);
  }
}

describe('a tag with thousands of signatures by others', () => {
  const harness = reverifyHarness('many-foreign-rekor');
  const store = new EntitySizedStore();
  const alerts = new RecordingAlertSink();
  /** Digests the registry lists FOREIGN bundle referrers for, none of which it can serve (foreign). */
  const crowded = new Set<string>();
  const referrersOf = new Map<string, Descriptor[]>();
  let crowdedRegistry: RegistryClient;

  before(() => {
    const { registry, host } = harness;
    // The registry as the pass sees it: the crowded digests answer the referrers API with FOREIGN
    // bundles, each of which answers 404 (an unreadable referrer is `foreign`, as one by another key).
    const listed = new Set<string>();
    crowdedRegistry = new Proxy(registry, {
      get(target, prop) {
        if (prop === 'referrers') {
          return async (...args: Parameters<RegistryClient['referrers']>) => {
            const [, digest] = args;
            if (!crowded.has(digest)) return await target.referrers(...args);
            let list = referrersOf.get(digest);
            if (list === undefined) {
              list = Array.from({ length: FOREIGN }, () => {
                const d = `sha256:${crypto.randomBytes(32).toString('hex')}`;
                listed.add(d);
                return {
                  mediaType: 'application/vnd.oci.image.manifest.v1+json',
                  digest: d,
                  size: 512,
                  artifactType: BUNDLE,
                };
              });
              referrersOf.set(digest, list);
            }
            return list;
          };
        }
        if (prop === 'getManifest') {
          return async (...args: Parameters<RegistryClient['getManifest']>) => {
            const [repo, reference] = args;
            if (listed.has(reference)) {
              throw new RegistryNotFoundError(
                `GET https://${host}/v2/${repo.repository}/manifests/${reference} answered 404 (MANIFEST_UNKNOWN: manifest unknown)`,
              );
            }
            return await target.getManifest(...args);
          };
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  });
  const deps = () =>
    harness.deps({ registry: crowdedRegistry, store, alerts, watch: [`${harness.host}/crowded/**`] });

  it('stores the unsigned verdict and raises its alerts, then reuses it without a change', async () => {
    const { host, testRegistry, registry, signer, log } = harness;
    const tag = `${host}/crowded/app:prod`;
    const signed = await testRegistry.pushImage('crowded/app', 'prod');
    await signImage(
      { registry, signer, rekorUrl: log.rekor.url },
      { host, repository: 'crowded/app', digest: signed.digest },
    );
    assert.equal(statusOf(await reverifyOnce(deps()), tag), 'valid');

    // The tag moves to an image signed by others only, thousands of times over.
    const crowdedImage = await testRegistry.pushImage('crowded/app', 'prod', 'a build others signed');
    crowded.add(crowdedImage.digest);
    const moved = await reverifyOnce(deps());
    assert.deepEqual(moved.errors, []);
    assert.equal(statusOf(moved, tag), 'unsigned');
    assert.deepEqual(alerts.openKinds(tag), ['tag-moved', 'unsigned-image']);
    const record = store.records.get(tag)!;
    assert.equal(record.status, 'unsigned');
    assert.equal(record.digest, crowdedImage.digest);
    assert.equal(record.findings.length, MAX_LISTED_FINDINGS);
    assert.equal(record.foreignOmitted, FOREIGN - MAX_LISTED_FINDINGS);
    const size = Buffer.byteLength(JSON.stringify(record));
    assert.ok(size < 128 * 1024, `the record is ${size} bytes`);
    assert.match(record.reasons[0]!, /^no signature by an expected key or identity \(GET /);
    const raised = alerts.open.get(`unsigned-image:${tag}`)!;
    assert.equal(raised.evidence['foreignFindingsOmitted'], FOREIGN - MAX_LISTED_FINDINGS);

    // Unchanged: judged from the stored listing, the same verdict, with nothing raised or resolved.
    const mark = alerts.tagCalls.length;
    const again = await reverifyOnce(deps());
    assert.deepEqual(again.errors, []);
    assert.equal(statusOf(again, tag), 'unsigned');
    assert.equal(again.cached, 1);
    assert.equal(again.changed, 0);
    assert.equal(alerts.tagCalls.length, mark, 'no alert churn');
    const reused = store.records.get(tag)!;
    assert.deepEqual(reused.reasons, record.reasons);
    assert.deepEqual(reused.findings, record.findings);
    assert.equal(reused.foreignOmitted, record.foreignOmitted);
    assert.deepEqual(reused.history, record.history);
  });
});
