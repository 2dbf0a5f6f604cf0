/**
 * The unjudged alert's key never names another tag's forgery incident. A registry may list a tag
 * holding a colon (listTags answers are anyone's who can push), so with the key `signature-invalid:
 * REF:unjudged`, the tag `prod:unjudged` had the forgery key of `prod`'s unjudged alert, and the
 * pass that judged `prod` again resolved that forgery incident, which only an operator may (found by
 * review).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ForwardingRegistry } from '../../../functions/registry/forwarding-registry.ts';
import type { Descriptor } from '../../../functions/registry/manifest.ts';
import type { ImageReference, RepositoryRef } from '../../../functions/registry/reference.ts';
import type { ListOptions, RequestOptions } from '../../../functions/registry/registry.ts';
import { unjudgedAlertKey } from '../../../functions/reverify/alerts.ts';
import { reverifyOnce } from '../../../functions/reverify/core.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { MemoryUnverifiedStore } from '../../../functions/reverify/unverified.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import { reverifyHarness, statusOf } from '../../helpers/reverify.ts';
import { signImage } from '../../helpers/sign-image.ts';
import { flipSignatures, rewriteSignatureManifest } from '../verify/tamper.ts';

/** Lists the tag `forged` as `prod:unjudged`, and resolves that name to it; `prod` fails while `failProd`. */
class ColonTagRegistry extends ForwardingRegistry {
  failProd = true;
  override async listTags(repo: RepositoryRef, options?: ListOptions): Promise<string[]> {
    const tags = await this.registry.listTags(repo, options);
    return [...tags.filter((t) => t !== 'forged'), 'prod:unjudged'];
  }
  override resolve(ref: ImageReference, options?: RequestOptions): Promise<Descriptor> {
    if (ref.tag === 'prod' && this.failProd) throw new TypeError('boom');
    return this.registry.resolve(ref.tag === 'prod:unjudged' ? { ...ref, tag: 'forged' } : ref, options);
  }
}

describe('the unjudged alert of a tag whose name holds a colon', () => {
  const harness = reverifyHarness('unjudged-colon');

  it("judging `prod` again resolves its own unjudged alert, never `prod:unjudged`'s forgery incident", async () => {
    const store = new MemoryTagStore();
    const alerts = new RecordingAlertSink();
    const unverified = new MemoryUnverifiedStore();
    const registry = new ColonTagRegistry(harness.registry);
    const signing = { registry: harness.registry, signer: harness.signer, rekorUrl: harness.rekor.url };
    await signImage(signing, await harness.push('colon/app', 'prod', 'colon-prod'));
    const forged = await harness.push('colon/app', 'forged', 'colon-forged');
    await signImage(signing, forged);
    await rewriteSignatureManifest(harness.registry, forged, flipSignatures);
    const deps = () =>
      harness.deps({ store, alerts, unverified, registry, watch: [`${harness.host}/colon/**`] });
    const prodRef = harness.ref('colon/app', 'prod');
    const colonRef = `${prodRef}:unjudged`;

    // `prod` cannot be judged (a TypeError nothing foresaw); the colon tag's forged signature is
    // judged invalid: its forgery incident is open.
    const first = await reverifyOnce(deps());
    assert.equal(statusOf(first, colonRef), 'invalid');
    const forgery = alerts.open.get(`signature-invalid:${colonRef}`);
    assert.match(forgery?.summary ?? '', /invalid|forg|signature/i, 'the forgery incident is open');
    assert.ok(alerts.open.has(unjudgedAlertKey(prodRef)), 'prod is alerted as not judged');

    registry.failProd = false;
    const mark = alerts.calls.length;
    await reverifyOnce(deps());
    const resolved = alerts.calls.slice(mark).flatMap((c) => (c.op === 'resolve' ? [c.key] : []));
    assert.ok(!resolved.includes(`signature-invalid:${colonRef}`), `resolved: ${resolved.join(', ')}`);
    assert.ok(alerts.open.has(`signature-invalid:${colonRef}`), 'the forgery incident stays open');
    assert.ok(resolved.includes(unjudgedAlertKey(prodRef)), `resolved: ${resolved.join(', ')}`);
  });
});
