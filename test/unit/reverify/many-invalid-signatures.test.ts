/**
 * A tag whose image carries thousands of signatures that decide its verdict: copies of a signature
 * that claims the owned key and does not verify (anyone who can push may attach them), or copies of
 * one that verifies. Found by review: only foreign findings were capped, so such a record passed
 * Firestore's 1 MiB entity limit and was never stored (`VERDICT_NOT_STORED` every pass, the tag
 * `verification-stale` a day later). The memory store refuses records over ENTITY_LIMIT_BYTES, as
 * Firestore does. Passes after it judge the tag from its stored listing without a change or an alert.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, it } from 'node:test';
import { BUNDLE_ANNOTATION, SIGNATURE_ANNOTATION } from '../../../functions/attach/cosign-layout.ts';
import { reverifyOnce } from '../../../functions/reverify/core.ts';
import { ENTITY_LIMIT_BYTES, MemoryTagStore, type TagRecord } from '../../../functions/reverify/store.ts';
import { MAX_LISTED_FINDINGS, MAX_REASONS } from '../../../functions/verify/verdict.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import { reverifyHarness, statusOf } from '../../helpers/reverify.ts';
import { signImage } from '../../helpers/sign-image.ts';
import { rewriteSignatureManifest } from '../verify/tamper.ts';

type Layer = Parameters<Parameters<typeof rewriteSignatureManifest>[2]>[0][number];

/** The layer's signature alone, its log bundle dropped: it claims the owned key and does not verify. */
const unlogged = (layer: Layer): Layer => ({
  ...layer,
  annotations: { [SIGNATURE_ANNOTATION]: layer.annotations![SIGNATURE_ANNOTATION]! },
});
/** Marks the layers `byOthers` makes, so that a test can tell them from the owned key's. */
const OTHERS = 'test.sigsentry/by-others';
/** A signature by no expected key (random bytes) and no log entry: foreign. */
const byOthers = (layer: Layer): Layer => ({
  ...layer,
  annotations: { [SIGNATURE_ANNOTATION]: crypto.randomBytes(70).toString('base64'), [OTHERS]: 'yes' },
});
const copies = (n: number, layer: Layer): Layer[] => Array.from({ length: n }, () => layer);
const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

/** The findings a record stands for, by outcome: listed, their copies, and those only counted. */
function judged(record: TagRecord): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of record.findings) out[f.outcome] = (out[f.outcome] ?? 0) + 1 + (f.copies ?? 0);
  for (const [outcome, n] of Object.entries(record.oursOmitted ?? {})) out[outcome] = (out[outcome] ?? 0) + n;
  if (record.foreignOmitted) out['foreign'] = (out['foreign'] ?? 0) + record.foreignOmitted;
  return out;
}

describe('a tag with thousands of signatures that decide its verdict', () => {
  const harness = reverifyHarness('many-invalid-rekor');
  const store = new MemoryTagStore();
  const alerts = new RecordingAlertSink();
  let keyState = 'ENABLED';
  const deps = (repository: string, over: { store?: MemoryTagStore; alerts?: RecordingAlertSink } = {}) =>
    harness.deps({
      store,
      alerts,
      watch: [`${harness.host}/${repository.split('/')[0]}/**`],
      keyState: async () => keyState,
      ...over,
    });

  /** `repository:prod` signed in both layouts and judged valid; its `.sig` then rewritten by `flood`. */
  async function flooded(repository: string, flood: (signed: Layer) => Layer[]) {
    const { registry, signer, rekor } = harness;
    const image = await harness.push(repository, 'prod');
    await signImage({ registry, signer, rekorUrl: rekor.url }, image);
    const tag = harness.ref(repository, 'prod');
    assert.equal(statusOf(await reverifyOnce(deps(repository)), tag), 'valid');
    await rewriteSignatureManifest(registry, image, (layers) => {
      layers.push(...flood(layers[0]!));
    });
    return { image, tag };
  }

  it('stores the invalid verdict of 5,000 copies of a forgery, counting them all, and alerts once', async () => {
    const { tag } = await flooded('flood/app', (signed) => copies(5000, unlogged(signed)));
    const pass = await reverifyOnce(deps('flood/app'));
    assert.deepEqual(pass.errors, [], 'stored: no VERDICT_NOT_STORED');
    assert.equal(statusOf(pass, tag), 'invalid');
    assert.deepEqual(alerts.openKinds(tag), ['signature-invalid']);

    const record = store.records.get(tag)!;
    assert.equal(record.status, 'invalid');
    const size = bytes(record);
    assert.ok(size < 64 * 1024, `the record is ${size} bytes (the limit is ${ENTITY_LIMIT_BYTES})`);
    const invalid = record.findings.filter((f) => f.outcome === 'invalid');
    assert.ok(invalid.length > 0 && invalid.length <= MAX_LISTED_FINDINGS, `${invalid.length} listed`);
    assert.deepEqual(judged(record), { valid: 2, invalid: 5000 }, 'every signature counted once');
    assert.equal(record.reasons.length, MAX_REASONS);
    assert.equal(
      record.reasons.at(-1),
      `… and ${5000 - (MAX_REASONS - 1)} more signatures that do not verify`,
      'the reasons count all 5,000',
    );
    assert.deepEqual(record.verifiedLayouts, ['bundle', 'cosign']);
    const raised = alerts.open.get(`signature-invalid:${tag}`)!;
    assert.deepEqual(raised.evidence['findingsOmitted'], record.oursOmitted);
    assert.ok((raised.evidence['findings'] as unknown[]).length <= 20);

    // The same registry: judged from the stored listing, the same verdict, nothing raised or resolved.
    const mark = alerts.tagCalls.length;
    const again = await reverifyOnce(deps('flood/app'));
    assert.deepEqual(again.errors, []);
    assert.equal(statusOf(again, tag), 'invalid');
    assert.equal(again.cached, 1);
    assert.equal(again.changed, 0);
    assert.equal(alerts.tagCalls.length, mark, 'no second alert');
    const reused = store.records.get(tag)!;
    assert.deepEqual(reused.reasons, record.reasons);
    assert.deepEqual(reused.findings, record.findings);
    assert.deepEqual(reused.oursOmitted, record.oursOmitted);
    assert.deepEqual(reused.history, record.history);
  });

  it('judges a mixed flood as all of it decides, and follows verified copies through a key state', async () => {
    const repository = 'mixed/app';
    const { image, tag } = await flooded(repository, (signed) => [
      ...copies(300, signed),
      ...copies(2000, unlogged(signed)),
      ...Array.from({ length: 1500 }, () => byOthers(signed)),
    ]);
    const pass = await reverifyOnce(deps(repository));
    assert.deepEqual(pass.errors, []);
    assert.equal(statusOf(pass, tag), 'invalid', 'one forgery outranks every good signature');
    const record = store.records.get(tag)!;
    assert.deepEqual(judged(record), { valid: 302, invalid: 2000, foreign: 1500 });
    assert.equal(
      record.reasons.at(-1),
      `… and ${2000 - (MAX_REASONS - 1)} more signatures that do not verify`,
    );
    assert.ok(bytes(record) < 64 * 1024, `the record is ${bytes(record)} bytes`);
    // Every copy of the verified signature is one listed finding's: the `.sig` one and its 300 copies.
    const cosignValid = record.findings.filter((f) => f.outcome === 'valid' && f.layout === 'cosign');
    assert.deepEqual(
      cosignValid.map((f) => f.copies),
      [300],
    );

    // The forgeries removed: valid, every good signature counted.
    await rewriteSignatureManifest(harness.registry, image, (layers) => {
      const kept = layers.filter(
        (l) => l.annotations?.[BUNDLE_ANNOTATION] !== undefined || l.annotations?.[OTHERS] !== undefined,
      );
      layers.splice(0, layers.length, ...kept);
    });
    const restored = await reverifyOnce(deps(repository));
    assert.deepEqual(restored.errors, []);
    assert.equal(statusOf(restored, tag), 'valid');
    const valid = store.records.get(tag)!;
    assert.deepEqual(judged(valid), { valid: 302, foreign: 1500 });
    assert.equal(valid.reasons.at(-1), '… and 300 more signatures that verify');

    // The key disabled: a cached pass re-checks the listed signature, and its copies follow it.
    keyState = 'DISABLED';
    try {
      const disabled = await reverifyOnce(deps(repository));
      assert.equal(disabled.cached, 1);
      assert.equal(statusOf(disabled, tag), 'key-disabled');
      const record = store.records.get(tag)!;
      assert.deepEqual(judged(record), { 'key-disabled': 302, foreign: 1500 });
      assert.equal(record.reasons.at(-1), '… and 300 more signatures by key versions that are not enabled');
    } finally {
      keyState = 'ENABLED';
    }
    const enabled = await reverifyOnce(deps(repository));
    assert.equal(statusOf(enabled, tag), 'valid');

    // A record as the code before this bound stored it: every copy listed, no `copies`, no
    // `oursOmitted`. It loads, and decides the same, with no change and no alert.
    const current = store.records.get(tag)!;
    const old: TagRecord = {
      ...current,
      findings: current.findings.flatMap((f) => {
        const { copies: n = 0, ...one } = f;
        return Array.from({ length: 1 + n }, () => one);
      }),
    };
    delete old.oursOmitted;
    assert.equal(old.findings.length, 302 + MAX_LISTED_FINDINGS);
    const oldStore = new MemoryTagStore();
    assert.equal(await oldStore.put(old, undefined), 'stored');
    const oldAlerts = new RecordingAlertSink();
    const fromOld = await reverifyOnce(deps(repository, { store: oldStore, alerts: oldAlerts }));
    assert.deepEqual(fromOld.errors, []);
    assert.equal(fromOld.cached, 1);
    assert.equal(fromOld.changed, 0);
    assert.equal(statusOf(fromOld, tag), 'valid');
    assert.deepEqual(oldAlerts.tagCalls, []);
    const relisted = oldStore.records.get(tag)!;
    assert.deepEqual(judged(relisted), { valid: 302, foreign: 1500 });
    assert.deepEqual(relisted.reasons, current.reasons);
  });
});
