/**
 * reverifyImages built from SIGSENTRY_CONFIG holds a Rekor v1 log whose info lists no shards to
 * the monitor's `indexOffset` for it (monitor.logs), as the monitor's scan is: an entry's proof must
 * place it at its log index less that offset. The log: the Rekor emulator after a shard rotation
 * (its tree numbered from log index 5), seen through a proxy whose info lists no shards. Real
 * docker-registry; the image signed in cosign's layout.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { loadReverifyConfig } from '../../../functions/reverify/config.ts';
import { createReverifyFromConfig } from '../../../functions/reverify/from-env.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { MemoryUnverifiedStore } from '../../../functions/reverify/unverified.ts';
import { LocalSigner } from '../../../functions/signing/local-signer.ts';
import { AnsweringServer } from '../../helpers/answering-server.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';
import { signImage } from '../../helpers/sign-image.ts';

/** Entries of the frozen shard before the emulator's tree: its first entry's log index. */
const OFFSET = 5;

describe("reverifyImages on a v1 log that lists no shards, with the monitor's indexOffset for it", () => {
  let registry: TestRegistry;
  let log: TestLog;
  const unlisting = new AnsweringServer();
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const signer = new LocalSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  let tag = '';

  before(async () => {
    registry = await startRegistry();
    log = await startTestLog('configured-index-offset-rekor', { inactiveShardSize: OFFSET });
    // The log as an older Rekor answers: its info without the shard that gives the offset.
    unlisting.answer = (req, res) => {
      void (async () => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        const body = Buffer.concat(chunks);
        const answer = await fetch(`${log.rekor.url}${req.url}`, {
          method: req.method ?? 'GET',
          headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
          ...(body.length > 0 ? { body } : {}),
        });
        let bytes = Buffer.from(await answer.arrayBuffer());
        if (new URL(req.url ?? '/', 'http://x').pathname === '/api/v1/log') {
          const info = JSON.parse(bytes.toString()) as Record<string, unknown>;
          assert.ok(Array.isArray(info['inactiveShards']), 'the emulator lists its frozen shard');
          delete info['inactiveShards'];
          bytes = Buffer.from(JSON.stringify(info));
        }
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(bytes);
      })().catch((err: unknown) => res.writeHead(502).end(String(err)));
    };
    await unlisting.start();
    const client = new RegistryClient({ allowedHosts: [registry.host] });
    const pushed = await registry.pushImage('team/app', 'v1');
    await signImage(
      { registry: client, signer, rekorUrl: log.rekor.url, formats: ['cosign'] },
      { host: registry.host, repository: 'team/app', digest: pushed.digest },
    );
    tag = `${registry.host}/team/app:v1`;
  });
  after(async () => {
    await unlisting.close();
    await registry?.stop();
    await log?.stop();
  });

  /** One pass of reverifyImages built from SIGSENTRY_CONFIG, the monitor's log given `monitored`. */
  const pass = async (monitored: Record<string, unknown>) => {
    const logSettings = { kind: 'rekor-v1', url: unlisting.url, publicKey: log.rekor.publicKeyPem };
    const config = loadReverifyConfig({
      SIGSENTRY_CONFIG: JSON.stringify({
        project: 'p',
        watch: [`${registry.host}/team/**`],
        publicKeys: [publicKeyPem],
        log: logSettings,
        monitor: { logs: [{ ...logSettings, ...monitored }] },
      }),
    });
    const store = new MemoryTagStore();
    const alerts = new RecordingAlertSink();
    const runtime = await createReverifyFromConfig(config, {
      alerts,
      logger: createMemoryLogger(),
      store,
      unverified: new MemoryUnverifiedStore(),
    });
    const summary = await runtime.run();
    const record = store.records.get(tag);
    return {
      errors: summary.errors.map((e) => e.error),
      alerted: [...alerts.open.keys()],
      status: summary.outcomes.find((o) => o.ref === tag)?.status,
      reasons: record?.findings.map((f) => f.reason ?? '') ?? [],
      provenIn: record?.findings.flatMap((f) => f.log ?? []).map((e) => e.logIndex) ?? [],
    };
  };

  it('the right offset: valid, its entry proven in the tree numbered from it', async () => {
    const judged = await pass({ indexOffset: OFFSET });
    assert.deepEqual(judged.errors, []);
    assert.equal(judged.status, 'valid', judged.reasons.join('; '));
    assert.ok(judged.provenIn.length > 0 && judged.provenIn.every((i) => i >= OFFSET), `${judged.provenIn}`);
  });

  it('an offset that disagrees with the proofs: no verdict, the tag an error naming the setting (it may be wrong), no incident', async () => {
    // Found by review: judged `invalid`, a typo in the setting opened a CRITICAL incident per image
    // that only an operator closes.
    const judged = await pass({ indexOffset: OFFSET - 1 });
    assert.equal(judged.status, undefined);
    assert.deepEqual(judged.alerted, []);
    assert.equal(judged.errors.length, 1, judged.errors.join('; '));
    assert.match(
      judged.errors[0]!,
      new RegExp(
        `log entry \\d+ is proven at index \\d+ of tree "[^"]+", not at its index \\d+ under the configured indexOffset ${OFFSET - 1} \\(monitor\\.logs\\[\\]\\.indexOffset\\): the setting is wrong, or the log misplaced the entry`,
      ),
    );
  });
});
