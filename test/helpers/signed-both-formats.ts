/**
 * Images signed by the signOnPush core in both formats into a test log, on a real registry, for
 * tests of what happens to a signature after its signing (lost, its blob gone, its record altered).
 *
 *   const images = signedImages(() => ({ reg, log, client }), 'lost');
 *   const { h, ref, push, verify } = await images.signed();
 */
import assert from 'node:assert/strict';
import type { RegistryClient } from '../../functions/registry/client.ts';
import type { Registry } from '../../functions/registry/registry.ts';
import { expectedKeyFromPem } from '../../functions/verify/policy.ts';
import { logKey } from '../../functions/verify/trust.ts';
import { verifyImage } from '../../functions/verify/verifier.ts';
import { countedWitness } from './counted-witness.ts';
import type { TestRegistry } from './registry.ts';
import type { TestLog } from './rekor.ts';
import { gcrEvent, signOnPushCore } from './sign-on-push-core.ts';

/** The registry calls that write. */
export const WRITES = ['putBlob', 'putManifest', 'deleteManifest'];

/**
 * The registry client, each call recorded as `method` and, for a manifest GET, `method reference`;
 * a manifest PUT fails with `faults.putManifest` while it is set.
 */
export function countingRegistry(registry: Registry) {
  const calls: string[] = [];
  const faults: { putManifest?: Error } = {};
  const proxy = new Proxy(registry, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        calls.push(property === 'getManifest' ? `getManifest ${String(args[1])}` : String(property));
        if (property === 'putManifest' && faults.putManifest) throw faults.putManifest;
        return value.apply(target, args);
      };
    },
  });
  return { registry: proxy, calls, faults };
}

export interface SignedImagesStack {
  reg: TestRegistry;
  log: TestLog;
  client: RegistryClient;
}

export type Core = ReturnType<typeof signOnPushCore>;

/** `stack` is read when an image is signed (the tests' `before` starts it). */
export function signedImages(stack: () => SignedImagesStack, prefix: string) {
  let images = 0;

  /**
   * An image pushed as team/NAME:v1 and signed in both formats, by a core of its own or by `core`
   * (one core is one key: `core` makes two images signed by the same key).
   */
  async function signed(core?: { h: Core; counted: ReturnType<typeof countingRegistry> }) {
    const { reg, log, client } = stack();
    const name = `${prefix}-${++images}`;
    const repository = `team/${name}`;
    const pushed = await reg.pushImage(repository, 'v1', name);
    const ref = { host: reg.host, repository, digest: pushed.digest };
    const imageRef = `${reg.host}/${repository}@${pushed.digest}`;
    const { witness, signingLog, counted: logged } = countedWitness(reg.host, log.rekor);
    const counted = core?.counted ?? countingRegistry(client);
    const h =
      core?.h ??
      signOnPushCore(counted.registry, reg.host, { formats: ['bundle', 'cosign'], witness, signingLog });
    const message = { action: 'INSERT', digest: imageRef, tag: `${reg.host}/${repository}:v1` };
    let deliveries = 0;
    // Published now, as every Pub/Sub message is (a message without a time is an operator's request).
    const push = () => h.entry(gcrEvent(message, `${name}-m${++deliveries}`, new Date()));
    const signedBefore = h.signed.length;
    await push();
    assert.equal(h.store.records.get(imageRef)?.state, 'attached');
    assert.equal(h.signed.length - signedBefore, 2, 'signed once per format');
    if (!core) assert.equal(logged.calls, 2, 'logged once per format');
    const verify = () =>
      verifyImage(
        { registry: client, trust: { logs: [logKey(log.rekor.url, log.rekor.publicKeyPem)] } },
        ref,
        {
          keys: [expectedKeyFromPem(h.publicKeyPem)],
          identities: [],
        },
      );
    const verdict = await verify();
    assert.equal(verdict.status, 'valid', verdict.reasons.join('; '));
    return { h, ref, imageRef, repository, push, counted, logged, verify };
  }

  /** Deletes the manifest `tag` of `repository` names. */
  async function deleteTag(repository: string, tag: string): Promise<void> {
    const { reg, client } = stack();
    const repo = { host: reg.host, repository };
    const { digest } = await client.resolve({ ...repo, tag });
    assert.equal(await client.deleteManifest(repo, digest), true, `${tag} deleted`);
  }

  return { signed, deleteTag };
}

/** The formats the verifier finds a valid signature in. */
export async function attachedIn(verify: () => ReturnType<typeof verifyImage>): Promise<string[]> {
  const verdict = await verify();
  return verdict.findings
    .filter((f) => f.outcome === 'valid')
    .map((f) => f.layout)
    .sort();
}
