/**
 * The public-good trusted root refreshed through TUF (verify/public-good-root.ts), against a real
 * TUF repository made by hand and served on 127.0.0.1 (test/helpers/tuf-repository.ts), read by
 * the real @sigstore/tuf and tuf-js: what the repository publishes is trusted from the next pass on,
 * a root rotated to new keys is followed, metadata that does not verify or has expired is refused
 * with a typed error naming the mirror, and `none` is the embedded root without any request. The
 * trusted roots served are real: the one embedded in @sigstore/tuf and the staging one
 * (test/fixtures/tlog).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { getTrustedRoot } from '@sigstore/tuf';
import { InvalidInputError, SigsentryError } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { loadReverifyConfig } from '../../../functions/reverify/config.ts';
import { embeddedPublicGoodTrustedRoot } from '../../../functions/tlog/trust.ts';
import {
  DEFAULT_TUF_URL,
  PublicGoodRootError,
  type PublicGoodTuf,
  publicGoodRootSource,
  publicGoodTufFromEnv,
} from '../../../functions/verify/public-good-root.ts';
import { MemoryTufVersionFloor, type TufVersionFloor } from '../../../functions/verify/tuf-version-floor.ts';
import { verifyImage } from '../../../functions/verify/verifier.ts';
import {
  mirrorServerSignature,
  SERVER_IDENTITY,
  SERVER_IMAGE,
  SERVER_REFERENCE,
} from '../../helpers/keyless-fixture.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import {
  PUBLIC_GOOD_TRUSTED_ROOT,
  STAGING_TRUSTED_ROOT,
  startTufRepository,
  type TufRepository,
} from '../../helpers/tuf-repository.ts';

/** The trusted_root.json embedded in @sigstore/tuf, byte for byte. */
const EMBEDDED = PUBLIC_GOOD_TRUSTED_ROOT;
const STAGING = STAGING_TRUSTED_ROOT;

const json = (root: TrustedRoot) => TrustedRoot.toJSON(root);
const parsed = (bytes: Buffer) => json(TrustedRoot.fromJSON(JSON.parse(bytes.toString('utf8'))));
const rekorUrls = (root: TrustedRoot) => root.tlogs.map((t) => t.baseUrl).sort();

describe('the public-good trusted root refreshed through TUF', () => {
  let repo: TufRepository;
  let cacheDir: string;
  const logger = createMemoryLogger();
  let source: ReturnType<typeof publicGoodRootSource>;
  const tuf = (): PublicGoodTuf => ({ mirror: repo.url, initialRoot: repo.initialRoot });

  before(async () => {
    repo = await startTufRepository(STAGING);
    cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'public-good-root-'));
    source = publicGoodRootSource({ tuf: tuf(), logger, cacheDir, retries: 0 });
  });
  after(async () => {
    await repo?.stop();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  /** The paths the repository is asked for during `run`. */
  const asked = async <T>(run: () => Promise<T>): Promise<{ value: T; paths: string[] }> => {
    const mark = repo.paths.length;
    const value = await run();
    return { value, paths: repo.paths.slice(mark) };
  };

  /** The refresh's rejection, checked to be a PublicGoodRootError naming the mirror. */
  const refused = async (): Promise<PublicGoodRootError> => {
    const err = await source.forPass().then(
      () => assert.fail('the refresh was accepted'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof PublicGoodRootError, String(err));
    assert.ok(err instanceof SigsentryError);
    assert.equal(err.code, 'PUBLIC_GOOD_ROOT_UNAVAILABLE');
    assert.equal(err.retryable, true);
    assert.equal(err.mirror, repo.url);
    assert.equal(err.details['mirror'], repo.url);
    assert.ok(err.message.includes(repo.url), err.message);
    return err;
  };

  it("a first refresh starts from the root.json it is given, walks timestamp, snapshot and targets, and returns the repository's trusted_root.json", async () => {
    const { value: root, paths } = await asked(() => source.forPass());
    assert.deepEqual(json(root), parsed(STAGING));
    assert.notDeepEqual(json(root), json(embeddedPublicGoodTrustedRoot()), 'not the embedded root');
    // Consistent snapshots: versioned metadata, the target by its SHA-256.
    assert.deepEqual(paths.slice(0, 4), [
      '/2.root.json',
      '/timestamp.json',
      '/1.snapshot.json',
      '/1.targets.json',
    ]);
    assert.match(paths[4]!, /^\/targets\/[0-9a-f]{64}\.trusted_root\.json$/);
    assert.equal(paths.length, 5);
  });

  it('every pass refreshes (the next root version and timestamp.json), and what was published since is the next pass’s root', async () => {
    const first = await source.forPass();
    const { value: same, paths } = await asked(() => source.forPass());
    assert.deepEqual(paths, ['/2.root.json', '/timestamp.json'], 'asked again, not kept for the instance');
    assert.equal(same, first, 'an unchanged root is the same object');

    repo.publish(EMBEDDED);
    const { value: next, paths: fetched } = await asked(() => source.forPass());
    assert.deepEqual(json(next), parsed(EMBEDDED));
    assert.deepEqual(rekorUrls(next), ['https://log2025-1.rekor.sigstore.dev', 'https://rekor.sigstore.dev']);
    assert.deepEqual(fetched.slice(0, 4), [
      '/2.root.json',
      '/timestamp.json',
      '/2.snapshot.json',
      '/2.targets.json',
    ]);
  });

  it('a root rotated to new keys for every role is followed, and what the new keys sign is trusted', async () => {
    const version = repo.rootVersion;
    repo.rotateRoot(STAGING);
    const { value: root, paths } = await asked(() => source.forPass());
    assert.deepEqual(json(root), parsed(STAGING));
    assert.deepEqual(paths.slice(0, 3), [
      `/${version + 1}.root.json`,
      `/${version + 2}.root.json`,
      '/timestamp.json',
    ]);
  });

  it('targets.json changed after it was signed (naming another trusted_root.json) is refused, and nothing it names is used', async () => {
    const current = json(await source.forPass());
    assert.deepEqual(current, parsed(STAGING));
    // Signed naming the staging root; served naming the public-good one.
    repo.publish(STAGING, { tamperTargets: { tamperedTarget: EMBEDDED } });
    const err = await refused();
    assert.equal(err.reason, 'refused');
    assert.match(err.message, /targets was signed by 0\/1 keys/);
    const line = logger.entries.at(-1)!;
    assert.equal(line.severity, 'ERROR');
    assert.equal(line['mirror'], repo.url);
    assert.equal(line['reason'], 'refused');
    assert.match(line.message, /watchlist images are not judged this pass/);
    // Once the repository publishes a good version again, the next pass has it.
    repo.publish(STAGING);
    assert.deepEqual(json(await source.forPass()), current);
  });

  it('a trusted_root.json whose bytes are not those targets.json hashes is refused', async () => {
    // The staging root is the one kept: the public-good one, signed for, must be downloaded.
    assert.deepEqual(json(await source.forPass()), parsed(STAGING));
    repo.publish(EMBEDDED, { tamperTarget: Buffer.from(STAGING) });
    assert.equal((await refused()).reason, 'refused');
    repo.publish(STAGING);
    assert.deepEqual(json(await source.forPass()), parsed(STAGING));
  });

  it('an expired timestamp (a frozen or stale mirror) is refused', async () => {
    repo.expireTimestamp();
    const err = await refused();
    assert.equal(err.reason, 'expired');
    assert.match(err.message, /timestamp\.json is expired/);
    repo.publish(STAGING);
    assert.deepEqual(json(await source.forPass()), parsed(STAGING));
  });

  it('a mirror that does not answer is unreachable, logged as a WARNING', async () => {
    const gone = await startTufRepository(STAGING);
    await gone.stop();
    const log = createMemoryLogger();
    const down = publicGoodRootSource({
      tuf: { mirror: gone.url, initialRoot: gone.initialRoot },
      logger: log,
      cacheDir,
      retries: 0,
    });
    const err = await down.forPass().then(
      () => assert.fail('accepted'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof PublicGoodRootError);
    assert.equal(err.reason, 'unreachable');
    assert.equal(err.mirror, gone.url);
    assert.deepEqual(
      log.entries.map((e) => [e.severity, e['mirror'], e['reason']]),
      [['WARNING', gone.url, 'unreachable']],
    );
  });

  /**
   * The repository behind a server that answers `file` with `answer` ('hang': never answers), read
   * by an instance with an empty cache (held to `floor` when given): the refusal.
   */
  async function inFrontOf(file: string, answer: Buffer | 'hang', floor?: TufVersionFloor) {
    const server = createServer(async (req, res) => {
      const asked = new URL(req.url ?? '/', 'http://x').pathname;
      if (asked === file) {
        if (answer !== 'hang') res.writeHead(200, { 'content-type': 'application/json' }).end(answer);
        return;
      }
      const upstream = await fetch(`${repo.url}${asked}`);
      res.writeHead(upstream.status).end(Buffer.from(await upstream.arrayBuffer()));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    let err: unknown;
    try {
      const source = publicGoodRootSource({
        tuf: { mirror: url, initialRoot: repo.initialRoot },
        logger: createMemoryLogger(),
        cacheDir: fs.mkdtempSync(path.join(cacheDir, 'front-')),
        retries: 0,
        timeoutMs: 300,
        ...(floor ? { floor } : {}),
      });
      err = await source.forPass().then(
        () => assert.fail('accepted'),
        (e: unknown) => e,
      );
    } finally {
      server.closeAllConnections();
      server.close();
    }
    assert.ok(err instanceof PublicGoodRootError);
    return err;
  }

  it('a mirror that times out (egress dropped) is unreachable, not refused', async () => {
    const err = await inFrontOf('/timestamp.json', 'hang');
    assert.equal(err.reason, 'unreachable', err.message);
  });

  it('words the mirror wrote never make a refusal an outage', async () => {
    // tuf-js quotes the document's _type in its refusal: "expected 'timestamp', got fetch failed".
    const forged = Buffer.from(JSON.stringify({ signed: { _type: 'fetch failed' }, signatures: [] }));
    const err = await inFrontOf('/timestamp.json', forged);
    assert.match(err.message, /fetch failed/);
    assert.equal(err.reason, 'refused');
  });

  it('a cache directory that cannot be written is the instance’s fault, not the mirror’s', async () => {
    const local = publicGoodRootSource({
      tuf: tuf(),
      logger: createMemoryLogger(),
      cacheDir: '/dev/null/sigsentry-tuf',
      retries: 0,
    });
    const err = await local.forPass().then(
      () => assert.fail('accepted'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof PublicGoodRootError);
    assert.equal(err.reason, 'cache', err.message);
  });

  it('older metadata served to a fresh instance is refused once any instance trusted newer (a rollback across instances)', async () => {
    const floor = new MemoryTufVersionFloor();
    const first = publicGoodRootSource({
      tuf: tuf(),
      logger,
      cacheDir: fs.mkdtempSync(path.join(cacheDir, 'first-')),
      retries: 0,
      floor,
    });
    await first.forPass();
    // What the mirror served before its next publication, kept by whoever would roll it back.
    const oldTimestamp = Buffer.from(await (await fetch(`${repo.url}/timestamp.json`)).arrayBuffer());
    repo.publish(EMBEDDED);
    assert.deepEqual(json(await first.forPass()), parsed(EMBEDDED));
    const trusted = floor.floors.get(repo.url)!;
    // A fresh instance (an empty /tmp) is served the old timestamp, and through it the old root. It
    // reads through another URL here; the floor it is held to is the repository's.
    const sameMirror: TufVersionFloor = {
      highest: () => floor.highest(repo.url),
      raise: (_mirror, versions) => floor.raise(repo.url, versions),
    };
    const err = await inFrontOf('/timestamp.json', oldTimestamp, sameMirror);
    assert.equal(err.reason, 'refused', err.message);
    assert.match(err.message, /a rollback: timestamp\.json version \d+ \(version \d+ was trusted before\)/);
    assert.deepEqual(floor.floors.get(repo.url), trusted, 'the floor stays');
    repo.publish(STAGING);
    assert.deepEqual(json(await first.forPass()), parsed(STAGING));
  });

  it('passes that start at once share one refresh', async () => {
    let calls = 0;
    const counted = publicGoodRootSource({
      tuf: tuf(),
      logger,
      cacheDir,
      retries: 0,
      fetchTrustedRoot: (options) => {
        calls++;
        return getTrustedRoot(options);
      },
    });
    const [a, b] = await Promise.all([counted.forPass(), counted.forPass()]);
    assert.equal(calls, 1);
    assert.equal(a, b);
    await counted.forPass();
    assert.equal(calls, 2, 'a later pass refreshes again');
  });

  it('a trusted_root.json with no transparency log or no certificate authority is not judged with', async () => {
    const empty = Buffer.from(
      JSON.stringify({ mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [] }),
    );
    repo.publish(empty);
    const err = await refused();
    assert.equal(err.reason, 'malformed');
    repo.publish(STAGING);
    assert.deepEqual(json(await source.forPass()), parsed(STAGING));
  });

  describe('the refreshed root is the one keyless signatures are verified with', () => {
    // A real public-good keyless cosign signature (test/helpers/keyless-fixture.ts).
    const policy = { keys: [], identities: [SERVER_IDENTITY], references: [SERVER_REFERENCE] };
    let testRegistry: TestRegistry;
    let registry: RegistryClient;
    let image: { host: string; repository: string; digest: string };
    before(async () => {
      testRegistry = await startRegistry();
      registry = new RegistryClient({ allowedHosts: [testRegistry.host] });
      image = { ...SERVER_IMAGE, host: testRegistry.host };
      await mirrorServerSignature(registry, image);
    });
    after(() => testRegistry?.stop());

    it('under the staging root the repository serves, not valid; once it publishes the public-good one, valid', async () => {
      repo.publish(STAGING);
      const staging = await verifyImage(
        { registry, trust: { logs: [], publicGoodRoot: await source.forPass() } },
        image,
        policy,
      );
      assert.notEqual(staging.status, 'valid', staging.reasons.join('; '));
      repo.publish(EMBEDDED);
      const good = await verifyImage(
        { registry, trust: { logs: [], publicGoodRoot: await source.forPass() } },
        image,
        policy,
      );
      assert.equal(good.status, 'valid', good.reasons.join('; '));
    });
  });
});

describe('SIGSTORE_TUF_URL=none', () => {
  it('is the root embedded in @sigstore/tuf, and nothing is fetched', async () => {
    let calls = 0;
    const source = publicGoodRootSource({
      tuf: publicGoodTufFromEnv({ SIGSTORE_TUF_URL: 'none' }),
      logger: createMemoryLogger(),
      fetchTrustedRoot: () => {
        calls++;
        return Promise.reject(new Error('no network'));
      },
    });
    assert.equal(source.mirror, 'none');
    const root = await source.forPass();
    assert.deepEqual(json(root), parsed(EMBEDDED));
    assert.equal(await source.forPass(), root);
    assert.equal(calls, 0);
  });
});

describe('SIGSTORE_TUF_URL and SIGSTORE_TUF_ROOT, read exactly', () => {
  const root = JSON.stringify({ signed: { _type: 'root', version: 1 }, signatures: [] });
  const refusedNaming = (variable: string) => (err: unknown) =>
    err instanceof InvalidInputError && err.details['variable'] === variable;

  it('unset or empty: the public-good repository; none: the embedded root; a trailing slash is dropped', () => {
    assert.deepEqual(publicGoodTufFromEnv({}), { mirror: DEFAULT_TUF_URL });
    assert.deepEqual(publicGoodTufFromEnv({ SIGSTORE_TUF_URL: '' }), { mirror: DEFAULT_TUF_URL });
    assert.deepEqual(publicGoodTufFromEnv({ SIGSTORE_TUF_URL: `${DEFAULT_TUF_URL}/` }), {
      mirror: DEFAULT_TUF_URL,
    });
    assert.deepEqual(publicGoodTufFromEnv({ SIGSTORE_TUF_URL: 'none' }), { mirror: 'none' });
    assert.deepEqual(
      publicGoodTufFromEnv({ SIGSTORE_TUF_URL: 'http://127.0.0.1:8080/tuf/', SIGSTORE_TUF_ROOT: root }),
      { mirror: 'http://127.0.0.1:8080/tuf', initialRoot: root },
    );
  });

  it('refuses None, a URL that is not http(s) or carries more than a base, and a mirror without its root', () => {
    for (const value of [
      'None',
      ' none',
      'ftp://tuf.example',
      'tuf.example',
      'https://u:p@tuf.example',
      'https://tuf.example?x=1',
    ]) {
      assert.throws(
        () => publicGoodTufFromEnv({ SIGSTORE_TUF_URL: value }),
        refusedNaming('SIGSTORE_TUF_URL'),
        value,
      );
    }
    assert.throws(
      () => publicGoodTufFromEnv({ SIGSTORE_TUF_URL: 'https://tuf.example' }),
      (err: unknown) =>
        refusedNaming('SIGSTORE_TUF_URL')(err) && /SIGSTORE_TUF_ROOT/.test((err as Error).message),
    );
    for (const bad of ['{', '{"signed":{"_type":"targets"}}']) {
      assert.throws(
        () => publicGoodTufFromEnv({ SIGSTORE_TUF_URL: 'https://tuf.example', SIGSTORE_TUF_ROOT: bad }),
        refusedNaming('SIGSTORE_TUF_ROOT'),
      );
    }
    assert.throws(
      () => publicGoodTufFromEnv({ SIGSTORE_TUF_URL: 'none', SIGSTORE_TUF_ROOT: root }),
      refusedNaming('SIGSTORE_TUF_ROOT'),
    );
  });

  it('reverifyImages reads them with the plain variables and with SIGSENTRY_CONFIG alike', () => {
    const watchlist = [
      { image: 'ghcr.io/vendor/base:v1', identity: 'release@vendor', issuer: 'https://idp' },
    ];
    const plain = { GCP_PROJECT: 'p', SIGSENTRY_WATCHLIST: JSON.stringify(watchlist) };
    const doc = { SIGSENTRY_CONFIG: JSON.stringify({ project: 'p', log: { kind: 'none' }, watchlist }) };
    for (const env of [plain, doc]) {
      assert.deepEqual(loadReverifyConfig(env).tuf, { mirror: DEFAULT_TUF_URL });
      assert.deepEqual(loadReverifyConfig({ ...env, SIGSTORE_TUF_URL: 'none' }).tuf, { mirror: 'none' });
      assert.throws(
        () => loadReverifyConfig({ ...env, SIGSTORE_TUF_URL: 'NONE' }),
        refusedNaming('SIGSTORE_TUF_URL'),
      );
    }
  });
});
