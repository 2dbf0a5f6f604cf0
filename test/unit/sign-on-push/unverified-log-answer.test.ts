/**
 * signOnPush no longer takes the transparency log's answer on trust. Its witness, as the function
 * builds it (sign-on-push/from-env.ts), proposes the entry to a real Rekor v1 (the emulator) through
 * a proxy that lies on request: it answers 201 with another artifact's entry, 409 with a Location
 * naming an unrelated entry, an entry whose signed entry timestamp another key signed, an entry of
 * another log (REKOR_URL pointed at the wrong log), an inclusion proof that proves nothing, or a
 * checkpoint the log's key did not sign. Each is refused with an UnverifiedLogEntryError (a
 * LogIntegrityError naming the reason and the log index, retryable): no bundle is stored in the
 * record, nothing is attached, the record is not `attached`, and Pub/Sub is asked to redeliver.
 * Once the log answers honestly the same push signs, and both formats verify; a lie that lasts is
 * given up after the bounded attempts with a signing-failed alert naming it.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { AlertInput } from '../../../functions/alerts/alert.ts';
import { readCosignSignatures } from '../../../functions/attach/cosign-layout.ts';
import { InProcessSubjectLock } from '../../../functions/attach/lock.ts';
import { listBundleReferrers } from '../../../functions/attach/referrer.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { createSignOnPush } from '../../../functions/sign-on-push/core.ts';
import { createSignOnPushEntry } from '../../../functions/sign-on-push/entry.ts';
import { signOnPushDepsFromEnv } from '../../../functions/sign-on-push/from-env.ts';
import { UnverifiedLogEntryError } from '../../../functions/sign-on-push/verified-witness.ts';
import { LocalSigner } from '../../../functions/signing/local-signer.ts';
import { canonicalJson } from '../../../functions/tlog/entries/canonical.ts';
import { expectedKeyFromPem } from '../../../functions/verify/policy.ts';
import { logKey } from '../../../functions/verify/trust.ts';
import { verifyImage } from '../../../functions/verify/verifier.ts';
import { hashedRekordProposal } from '../../helpers/hashedrekord.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { signedByAnotherKey, startTestLog, type TestLog } from '../../helpers/rekor.ts';
import { gcrEvent, MemorySigningStore, TEST_KEY_VERSION } from '../../helpers/sign-on-push-core.ts';

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface V1Entry {
  body: string;
  integratedTime: number;
  logID: string;
  logIndex: number;
  verification: {
    signedEntryTimestamp: string;
    inclusionProof: {
      hashes: string[];
      checkpoint: string;
      logIndex: number;
      treeSize: number;
      rootHash: string;
    };
  };
}

/**
 * How the proxy answers a POST of a proposed entry: `forward` passes it on to the honest log (or to
 * `upstream`), or passes `edit` of it on, and gives its answer. GETs always reach the honest log.
 */
type Lie = (
  forward: (upstream?: string, edit?: (proposed: Buffer) => Buffer) => Promise<Answer>,
) => Promise<Answer>;

async function forwardTo(upstream: string, req: http.IncomingMessage, body: Buffer): Promise<Answer> {
  const res = await fetch(`${upstream}${req.url}`, {
    method: req.method!,
    headers: { 'content-type': 'application/json' },
    ...(req.method === 'POST' ? { body } : {}),
    redirect: 'manual',
  });
  const location = res.headers.get('location');
  return {
    status: res.status,
    headers: { 'content-type': 'application/json', ...(location ? { location } : {}) },
    body: await res.text(),
  };
}

/** A proxy in front of the log at `upstream`, answering POSTs through `lie` while one is set. */
async function lyingProxy(upstream: string) {
  const state: { lie: Lie | undefined; posts: number } = { lie: undefined, posts: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const forward = (to = upstream, edit = (proposed: Buffer) => proposed) =>
        forwardTo(to, req, edit(body));
      if (req.method === 'POST') state.posts++;
      const answer = req.method === 'POST' && state.lie ? state.lie(forward) : forward();
      answer.then(
        (a) => {
          res.writeHead(a.status, a.headers);
          res.end(a.body);
        },
        (err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, state, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** The one entry of a Rekor v1 answer, edited by `edit`. */
function editEntry(answer: Answer, edit: (entry: V1Entry) => void): Answer {
  const json = JSON.parse(answer.body) as Record<string, V1Entry>;
  const [uuid, entry] = Object.entries(json)[0]!;
  edit(entry);
  return { ...answer, body: JSON.stringify({ [uuid]: entry }) };
}

let reg: TestRegistry;
let log: TestLog;
/** Another honest log, with a key of its own: where a mis-pointed REKOR_URL leads. */
let otherLog: TestLog;
let proxy: Awaited<ReturnType<typeof lyingProxy>>;
let client: RegistryClient;

before(async () => {
  reg = await startRegistry();
  log = await startTestLog('sign-on-push-log-answer', { unrelatedFirstEntry: true });
  otherLog = await startTestLog('sign-on-push-log-answer-other', { unrelatedFirstEntry: true });
  proxy = await lyingProxy(log.rekor.url);
  client = new RegistryClient({ allowedHosts: [reg.host] });
});
after(async () => {
  await proxy.close();
  await otherLog.stop();
  await log.stop();
  await reg.stop();
});

/** A genuine entry of the log for some other artifact, signed by some other key: its answer to the POST. */
async function unrelatedEntry(rekorUrl: string): Promise<Answer> {
  const key = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const proposal = hashedRekordProposal(key, crypto.randomBytes(32));
  const res = await fetch(`${rekorUrl}/api/v1/log/entries`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(proposal.body),
  });
  const body = await res.text();
  assert.equal(res.status, 201, body);
  return { status: 201, headers: { 'content-type': 'application/json' }, body };
}

const otherKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });

const LIES: Array<{ name: string; reason: string; lie: Lie }> = [
  {
    name: "answers 201 with another artifact's entry (a genuine one, with a valid SET and proof)",
    reason: 'not-proposed-entry',
    lie: () => unrelatedEntry(log.rekor.url),
  },
  {
    name: 'answers 409 with a Location naming an unrelated entry',
    reason: 'not-proposed-entry',
    lie: async () => {
      const other = JSON.parse((await unrelatedEntry(log.rekor.url)).body) as Record<string, unknown>;
      const uuid = Object.keys(other)[0]!;
      return {
        status: 409,
        headers: { 'content-type': 'application/json', location: `/api/v1/log/entries/${uuid}` },
        body: JSON.stringify({
          code: 409,
          message: 'an equivalent entry already exists in the transparency log',
        }),
      };
    },
  },
  {
    name: 'answers with a signed entry timestamp another key signed',
    reason: 'bad-set',
    lie: async (forward) =>
      editEntry(await forward(), (e) => {
        const payload = canonicalJson({
          body: e.body,
          integratedTime: e.integratedTime,
          logID: e.logID,
          logIndex: e.logIndex,
        });
        e.verification.signedEntryTimestamp = crypto
          .sign('sha256', Buffer.from(payload), otherKey.privateKey)
          .toString('base64');
      }),
  },
  {
    name: 'is another log than the one whose key is configured (REKOR_URL pointed at the wrong log)',
    reason: 'wrong-log',
    lie: (forward) => forward(otherLog.rekor.url),
  },
  {
    name: 'answers with an inclusion proof that does not lead to the root it claims',
    reason: 'bad-inclusion-proof',
    lie: async (forward) =>
      editEntry(await forward(), (e) => {
        const hashes = e.verification.inclusionProof.hashes;
        assert.ok(hashes.length > 0, 'the entry is not the only one in its tree');
        hashes[0] = crypto.createHash('sha256').update(hashes[0]!).digest('hex');
      }),
  },
  {
    name: "answers with a checkpoint the log's key did not sign",
    reason: 'bad-checkpoint',
    lie: async (forward) =>
      editEntry(await forward(), (e) => {
        e.verification.inclusionProof.checkpoint = signedByAnotherKey(
          e.verification.inclusionProof.checkpoint,
        );
      }),
  },
];

/**
 * signOnPush as the function builds it from its environment (its witness above all), pointed at the
 * proxy with the honest log's key; a local signing key, records, lock and alerts in memory.
 */
function signOnPushThroughProxy(repository: string, formats: string, maxAttempts?: number) {
  const deps = signOnPushDepsFromEnv({
    GCP_PROJECT: 'p',
    SIGSENTRY_WATCH: `${reg.host}/${repository}`,
    SIGSENTRY_FORMATS: formats,
    KMS_KEY: TEST_KEY_VERSION,
    KMS_ENDPOINT: '127.0.0.1:9',
    REKOR_URL: proxy.url,
    REKOR_PUBLIC_KEY: log.rekor.publicKeyPem,
  });
  if (maxAttempts !== undefined) deps.config.maxAttempts = maxAttempts;
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const local = new LocalSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  const store = new MemorySigningStore();
  const raised: AlertInput[] = [];
  const core = createSignOnPush({
    ...deps,
    registry: client,
    store,
    signerFor: () => ({
      sign: (data) => local.sign(data),
      signatureKey: async () => ({ $case: 'publicKey', publicKey: local.publicKeyPem, hint: local.hint }),
    }),
    lock: new InProcessSubjectLock(),
    alerts: { raise: async (a) => void raised.push(a), resolve: async () => {} },
    instanceId: 'unit',
  });
  const logger = createMemoryLogger();
  const entry = createSignOnPushEntry({ logger, core });
  return { entry, store, raised, logger, publicKeyPem: local.publicKeyPem };
}

async function nothingAttached(image: { host: string; repository: string; digest: string }): Promise<void> {
  assert.deepEqual(await readCosignSignatures(client, image), [], 'no .sig is attached');
  assert.deepEqual(
    (await listBundleReferrers(client, image)).descriptors,
    [],
    'no bundle referrer is attached',
  );
}

let pushes = 0;

describe('signOnPush verifies the log answer before storing it', () => {
  for (const { name, reason, lie } of LIES) {
    for (const format of ['bundle', 'cosign'] as const) {
      it(`a log that ${name}: refused (${reason}), nothing stored or attached, retried; the honest log then signs (${format})`, async () => {
        const repository = `team/lie-${++pushes}`;
        const pushed = await reg.pushImage(repository, 'v1', `lie-${pushes}`);
        const image = { host: reg.host, repository, digest: pushed.digest };
        const imageRef = `${reg.host}/${repository}@${pushed.digest}`;
        const { entry, store, raised, logger, publicKeyPem } = signOnPushThroughProxy(repository, format);
        const event = gcrEvent({ action: 'INSERT', digest: imageRef });

        proxy.state.lie = lie;
        const posts = proxy.state.posts;
        try {
          await assert.rejects(entry(event), (err: unknown) => {
            assert.ok(
              err instanceof UnverifiedLogEntryError,
              `an UnverifiedLogEntryError, not ${String(err)}`,
            );
            assert.equal(err.code, 'LOG_INTEGRITY');
            assert.equal(err.reason, reason);
            assert.equal(err.retryable, true, 'Pub/Sub redelivers it');
            assert.equal(typeof err.details['logIndex'], 'number', 'it names the log index');
            assert.match(
              String(err.details['signedDigest']),
              /^sha256:[0-9a-f]{64}$/,
              'and the signed digest',
            );
            if (format === 'bundle')
              assert.equal(err.details['digest'], pushed.digest, 'and the image digest');
            return true;
          });
        } finally {
          proxy.state.lie = undefined;
        }
        assert.equal(proxy.state.posts, posts + 1, 'the entry was proposed once');
        const record = store.records.get(imageRef)!;
        assert.notEqual(record.state, 'attached');
        assert.equal(record.formats[format]?.bundle, undefined, 'no bundle is stored in the record');
        assert.equal(record.formats[format]?.attached, undefined);
        assert.equal(record.lastError?.['code'], 'LOG_INTEGRITY');
        assert.equal(record.lastError?.['reason'], reason);
        const signed = structuredClone(record.formats[format]);
        assert.ok(signed?.signature && signed.signedBytes, 'the signature is stored before the log is asked');
        await nothingAttached(image);
        assert.deepEqual(raised, [], 'no alert yet: it is retried');
        assert.ok(logger.entries.some((e) => e.message === 'signing attempt failed; Pub/Sub will redeliver'));
        assert.ok(!logger.entries.some((e) => e.message === 'image signed'));

        // The redelivery, with the log honest again: signed, and what is attached verifies.
        await entry(event);
        assert.equal(store.records.get(imageRef)!.state, 'attached');
        // The same bytes signed again (for the bundle, the statement out of the stored PAE), so the
        // stored signature is replayed rather than a second one made.
        const resigned = store.records.get(imageRef)!.formats[format];
        assert.equal(resigned?.signedBytes, signed.signedBytes, 'the same bytes are signed');
        assert.equal(resigned?.signature, signed.signature, 'the stored signature is replayed');
        const verdict = await verifyImage(
          { registry: client, trust: { logs: [logKey(log.rekor.url, log.rekor.publicKeyPem)] } },
          image,
          { keys: [expectedKeyFromPem(publicKeyPem)], identities: [] },
        );
        assert.equal(verdict.status, 'valid', verdict.reasons.join('; '));
        assert.deepEqual(
          verdict.findings.map((f) => [f.layout, f.outcome]),
          [[format, 'valid']],
        );
        assert.deepEqual(raised, []);
      });
    }
  }

  it('a log that keeps lying is given up after the bounded attempts, with a signing-failed alert naming the lie', async () => {
    const repository = 'team/lie-exhausted';
    const pushed = await reg.pushImage(repository, 'v1', 'lie-exhausted');
    const image = { host: reg.host, repository, digest: pushed.digest };
    const imageRef = `${reg.host}/${repository}@${pushed.digest}`;
    const maxAttempts = 2;
    const { entry, store, raised } = signOnPushThroughProxy(repository, 'bundle', maxAttempts);
    const event = gcrEvent({ action: 'INSERT', digest: imageRef });
    proxy.state.lie = LIES[0]!.lie;
    try {
      for (let attempt = 1; attempt <= maxAttempts; attempt++) {
        await assert.rejects(entry(event), UnverifiedLogEntryError, `attempt ${attempt}`);
        assert.deepEqual(raised, [], `no alert after attempt ${attempt}`);
      }
      // The next delivery finds the attempts spent: acknowledged, alerted once.
      await entry(event);
    } finally {
      proxy.state.lie = undefined;
    }
    assert.equal(store.records.get(imageRef)!.state, 'failed');
    assert.equal(store.records.get(imageRef)!.formats.bundle?.bundle, undefined);
    await nothingAttached(image);
    assert.deepEqual(
      raised.map((a) => [a.kind, a.severity, a.subject]),
      [['signing-failed', 'HIGH', imageRef]],
    );
    const lastError = raised[0]!.evidence['lastError'] as Record<string, unknown>;
    assert.equal(lastError['code'], 'LOG_INTEGRITY');
    assert.equal(lastError['reason'], 'not-proposed-entry');
    assert.equal(lastError['digest'], pushed.digest);
  });

  it('a log that answers with the entry of the same signed envelope sent otherwise (its hash another): refused, the envelope hash named', async () => {
    const repository = 'team/lie-envelope-hash';
    const pushed = await reg.pushImage(repository, 'v1', 'lie-envelope-hash');
    const image = { host: reg.host, repository, digest: pushed.digest };
    const imageRef = `${reg.host}/${repository}@${pushed.digest}`;
    const { entry, store, raised } = signOnPushThroughProxy(repository, 'bundle');
    const event = gcrEvent({ action: 'INSERT', digest: imageRef });
    // The same payload, signature and key, the envelope re-serialized: a genuine dsse entry whose
    // only difference from the one proposed is its envelope hash.
    const reserialized = (proposed: Buffer): Buffer => {
      const body = JSON.parse(proposed.toString('utf8')) as {
        kind: string;
        spec: { proposedContent: { envelope: string } };
      };
      assert.equal(body.kind, 'dsse');
      const content = body.spec.proposedContent;
      content.envelope = JSON.stringify(JSON.parse(content.envelope), null, 1);
      return Buffer.from(JSON.stringify(body));
    };
    proxy.state.lie = (forward) => forward(undefined, reserialized);
    try {
      await assert.rejects(entry(event), (err: unknown) => {
        assert.ok(err instanceof UnverifiedLogEntryError, `an UnverifiedLogEntryError, not ${String(err)}`);
        assert.equal(err.code, 'LOG_INTEGRITY');
        assert.equal(err.reason, 'not-proposed-entry');
        assert.equal(err.retryable, true);
        assert.deepEqual(err.details['differs'], ['it records the hash of another envelope']);
        assert.equal(err.details['digest'], pushed.digest);
        return true;
      });
    } finally {
      proxy.state.lie = undefined;
    }
    assert.equal(store.records.get(imageRef)!.formats.bundle?.bundle, undefined, 'no bundle is stored');
    await nothingAttached(image);
    assert.deepEqual(raised, [], 'no alert yet: it is retried');
    await entry(event);
    assert.equal(store.records.get(imageRef)!.state, 'attached');
  });

  it('an honest log signs at the first attempt, in both formats, and both verify', async () => {
    const repository = 'team/honest';
    const pushed = await reg.pushImage(repository, 'v1', 'honest');
    const image = { host: reg.host, repository, digest: pushed.digest };
    const { entry, store, raised, publicKeyPem } = signOnPushThroughProxy(repository, 'bundle,cosign');
    const record = () => store.records.get(`${reg.host}/${repository}@${pushed.digest}`)!;
    await entry(gcrEvent({ action: 'INSERT', digest: `${reg.host}/${repository}@${pushed.digest}` }));
    assert.equal(record().state, 'attached');
    assert.deepEqual(raised, []);
    const verdict = await verifyImage(
      { registry: client, trust: { logs: [logKey(log.rekor.url, log.rekor.publicKeyPem)] } },
      image,
      { keys: [expectedKeyFromPem(publicKeyPem)], identities: [] },
    );
    assert.equal(verdict.status, 'valid', verdict.reasons.join('; '));
    assert.deepEqual(verdict.findings.map((f) => [f.layout, f.outcome]).sort(), [
      ['bundle', 'valid'],
      ['cosign', 'valid'],
    ]);
  });
});
