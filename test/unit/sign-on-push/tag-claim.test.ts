/**
 * The tag of a digest+tag `gcr` message becomes a signed claim (the simple-signing payload's
 * `optional.tag`, which `cosign verify -a tag=…` and policy engines check) and one of the signing
 * record's tags only once the registry says the tag names the message's digest (one HEAD). A tag
 * naming another digest, or none, is left out, with a WARNING naming the tag, what it names and the
 * message's digest. Before, the tag was taken from the message unchecked: anyone who could publish
 * on `gcr` could have a digest's first signature claim any tag of its repository. A tag-only
 * message's tag is the one resolved to find the digest: it is claimed without a second look.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { readCosignSignatures } from '../../../functions/attach/cosign-layout.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import type { Registry } from '../../../functions/registry/registry.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { gcrEvent, signOnPushCore } from '../../helpers/sign-on-push-core.ts';

let reg: TestRegistry;
let client: RegistryClient;
before(async () => {
  reg = await startRegistry();
  client = new RegistryClient({ allowedHosts: [reg.host] });
});
after(() => reg.stop());

/** The registry client with its tag resolutions recorded. */
function resolving(registry: Registry) {
  const resolved: string[] = [];
  const proxy = new Proxy(registry, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const ref = args[0] as { tag?: string };
        if (property === 'resolve' && ref.tag !== undefined) resolved.push(ref.tag);
        return value.apply(target, args);
      };
    },
  });
  return { registry: proxy, resolved };
}

/** The signed payload's `optional` claims of the image's one cosign signature. */
async function claims(repository: string, digest: string): Promise<Record<string, unknown> | null> {
  const signatures = await readCosignSignatures(client, { host: reg.host, repository, digest });
  assert.equal(signatures.length, 1, 'one cosign signature');
  return JSON.parse(Buffer.from(signatures[0]!.payload).toString('utf8')).optional;
}

test('a tag that names another digest in the registry: signed without the tag claim, recorded without the tag, a WARNING', async () => {
  const a = await reg.pushImage('team/app', 'release-candidate', 'tag-claim-a');
  const b = await reg.pushImage('team/app', 'prod', 'tag-claim-b');
  const { registry, resolved } = resolving(client);
  const h = signOnPushCore(registry, reg.host, { formats: ['cosign'], signPlatformManifests: false });
  const image = `${reg.host}/team/app@${a.digest}`;
  const tag = `${reg.host}/team/app:prod`;
  // The message names digest A with tag `prod`, which in the registry names B.
  await h.entry(gcrEvent({ action: 'INSERT', digest: image, tag }));

  const optional = await claims('team/app', a.digest);
  assert.ok(optional !== null && !('tag' in optional), `no tag claim: ${JSON.stringify(optional)}`);
  assert.deepEqual(h.store.records.get(image)?.tags, [], 'the record does not list the tag');
  assert.equal(h.store.records.get(image)?.state, 'attached', 'the image is signed all the same');
  assert.deepEqual(resolved, ['prod'], 'the tag was resolved once');
  const warnings = h.logger.entries.filter((e) => e.severity === 'WARNING');
  assert.equal(warnings.length, 1, 'one WARNING');
  const [warning] = warnings;
  assert.ok(warning!.message.includes(tag), 'it names the tag');
  assert.ok(warning!.message.includes(b.digest), 'the digest the tag names');
  assert.ok(warning!.message.includes(a.digest), "and the message's digest");
  assert.equal(warning!['tagNames'], b.digest);
  assert.deepEqual(h.raised, [], 'no alert: the tag claim is optional');
});

test('a tag the registry does not have: no tag claim, a WARNING saying 404', async () => {
  const a = await reg.pushImage('team/gone', 'v1', 'tag-claim-gone');
  const h = signOnPushCore(client, reg.host, { formats: ['cosign'], signPlatformManifests: false });
  const image = `${reg.host}/team/gone@${a.digest}`;
  await h.entry(gcrEvent({ action: 'INSERT', digest: image, tag: `${reg.host}/team/gone:never-pushed` }));

  const optional = await claims('team/gone', a.digest);
  assert.ok(optional === null || !('tag' in optional));
  assert.deepEqual(h.store.records.get(image)?.tags, []);
  const [warning] = h.logger.entries.filter((e) => e.severity === 'WARNING');
  assert.ok(warning, 'a WARNING');
  assert.match(warning.message, /team\/gone:never-pushed names 404/);
  assert.ok(warning.message.includes(a.digest));
});

test('control: a tag that names the digest is claimed and recorded, with no WARNING', async () => {
  const a = await reg.pushImage('team/ok', 'v1', 'tag-claim-ok');
  const h = signOnPushCore(client, reg.host, { formats: ['cosign'], signPlatformManifests: false });
  const image = `${reg.host}/team/ok@${a.digest}`;
  const tag = `${reg.host}/team/ok:v1`;
  await h.entry(gcrEvent({ action: 'INSERT', digest: image, tag }));

  assert.equal((await claims('team/ok', a.digest))?.['tag'], tag);
  assert.deepEqual(h.store.records.get(image)?.tags, [tag]);
  assert.deepEqual(
    h.logger.entries.filter((e) => e.severity === 'WARNING'),
    [],
  );
});

test('a tag-only message: the tag resolved to find the digest is claimed, and resolved once', async () => {
  const a = await reg.pushImage('team/only', 'v2', 'tag-claim-only');
  const { registry, resolved } = resolving(client);
  const h = signOnPushCore(registry, reg.host, { formats: ['cosign'], signPlatformManifests: false });
  const tag = `${reg.host}/team/only:v2`;
  await h.entry(gcrEvent({ action: 'INSERT', tag }));

  assert.equal((await claims('team/only', a.digest))?.['tag'], tag);
  assert.deepEqual(h.store.records.get(`${reg.host}/team/only@${a.digest}`)?.tags, [tag]);
  assert.deepEqual(resolved, ['v2'], 'one resolution of the tag');
  assert.deepEqual(
    h.logger.entries.filter((e) => e.severity === 'WARNING'),
    [],
  );
});
