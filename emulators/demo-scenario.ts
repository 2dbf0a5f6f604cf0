/**
 * The demo's story, on any running stack: the demo runs it on a fresh stack, and the status page's
 * end-to-end test runs it on the test stack before it opens the page.
 *   1. a push is signed by signOnPush and verifies (then the scheduled jobs make their baseline);
 *   2. a signature made directly with the organisation's key (not by sigsentry) is caught by monitorLog;
 *   3. a tag moved to an unsigned digest is caught by reverifyImages;
 *   4. a log that rewrites its history (split view) is caught by monitorLog.
 * Each step runs the real `sigsentry` commands against the stack named by SIGSENTRY_STACK_ENV.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { MessageSignatureBundleBuilder, RekorWitness } from '@sigstore/sign';
import { RegistryClient } from '../functions/registry/client.ts';
import { createKmsClient } from '../functions/signing/kms-client.ts';
import { KmsSigner } from '../functions/signing/kms-signer.ts';
import { recordId, SIGNING_RECORDS } from '../functions/state/signing-records.ts';
import { makeOciImage } from './sample-image.ts';
import { PROJECT_ROOT } from './stack/stack.ts';
import type { StackEnv } from './stack/stack-env.ts';

const run = promisify(execFile);
const CLI = path.join(PROJECT_ROOT, 'functions', 'cli', 'sigsentry.ts');

export interface ScenarioOptions {
  stack: StackEnv;
  /** The stack.env file the `sigsentry` commands read. */
  stackEnvFile: string;
  /** Where sample images are laid out. */
  workDir: string;
  /** The repository the story's image lives in. */
  repository: string;
  step(n: number, text: string): void;
  say(text: string): void;
}

export interface ScenarioResult {
  tag: string;
  image: string;
  rogueLogIndex: number;
  movedTo: string;
}

async function waitForSigned(db: Firestore, image: string, keyVersion: string): Promise<void> {
  const doc = db.collection(SIGNING_RECORDS).doc(recordId(image, keyVersion));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if ((await doc.get()).get('state') === 'attached') return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${image} was not signed within 60 s`);
}

export async function runDemoScenario(opts: ScenarioOptions): Promise<ScenarioResult> {
  const { stack, workDir, repository, step, say } = opts;
  const env = { ...process.env, SIGSENTRY_STACK_ENV: opts.stackEnvFile, METADATA_SERVER_DETECTION: 'none' };
  process.env.FIRESTORE_EMULATOR_HOST = stack.FIRESTORE_EMULATOR_HOST;
  process.env.PUBSUB_EMULATOR_HOST = stack.PUBSUB_EMULATOR_HOST;
  process.env.METADATA_SERVER_DETECTION = 'none';

  /** Runs `sigsentry ARGS` against the stack and prints what it says, indented. */
  const sigsentry = async (...args: string[]): Promise<number> => {
    say(`$ sigsentry ${args.join(' ')}`);
    const result = await run(process.execPath, [CLI, ...args], { env, maxBuffer: 16 << 20 }).then(
      (r) => ({ ...r, code: 0 }),
      (e: { stdout?: string; stderr?: string; code?: number }) => ({
        stdout: e.stdout ?? '',
        stderr: e.stderr ?? '',
        code: e.code ?? 1,
      }),
    );
    for (const line of result.stdout.trimEnd().split('\n').filter(Boolean)) say(`  ${line}`);
    // Human reasons go to stderr; structured log lines there are the commands' own logs.
    for (const line of result.stderr
      .trimEnd()
      .split('\n')
      .filter((l) => l && !l.startsWith('{')))
      say(`  ${line}`);
    say(`  (exit ${result.code})`);
    return result.code;
  };

  const db = new Firestore({ projectId: stack.GCP_PROJECT });
  try {
    step(1, `A CI pipeline pushes ${repository}:v1 with skopeo; signOnPush signs it, logs it, attaches it`);
    const sample = makeOciImage({
      tag: 'v1',
      dir: path.join(workDir, 'sample-v1'),
      content: 'hello from the demo',
    });
    const tag = `${stack.REGISTRY}/${repository}:v1`;
    await run('skopeo', [
      'copy',
      '--quiet',
      '--preserve-digests',
      '--dest-tls-verify=false',
      sample.source,
      `docker://${tag}`,
    ]);
    const image = `${stack.REGISTRY}/${repository}@${sample.digest}`;
    say(`pushed ${tag} (${sample.digest})`);
    await waitForSigned(db, image, stack.KMS_KEY!);
    say(
      'signOnPush: signed with KMS, logged in Rekor (dsse + hashedrekord), attached (.sig and bundle referrer)',
    );
    await sigsentry('verify', tag);
    say(
      'the scheduled jobs run once: their first verdicts and the first verified checkpoint are the baseline',
    );
    await sigsentry('reverify', '--once');
    await sigsentry('monitor', '--once');

    step(2, "Someone signs an artifact directly with the organisation's KMS key, bypassing sigsentry");
    const kms = createKmsClient({ endpoint: stack.KMS_ENDPOINT! });
    const rogue = await new MessageSignatureBundleBuilder({
      signer: new KmsSigner({ client: kms, keyVersion: stack.KMS_KEY! }),
      witnesses: [new RekorWitness({ rekorBaseURL: stack.REKOR_URL!, fetchOnConflict: true })],
    }).create({ data: Buffer.from(`an artifact sigsentry never saw ${Date.now()}`) });
    await kms.close();
    const rogueLogIndex = Number(rogue.verificationMaterial.tlogEntries[0]?.logIndex ?? 0);
    say(`the rogue signature is in the log at index ${rogueLogIndex}`);
    await sigsentry('monitor', '--once');

    let movedTo = '';
    step(3, `${repository}:v1 is moved to a digest nobody signed (signOnPush held back meanwhile)`);
    const pubsub = new PubSub({ projectId: stack.GCP_PROJECT });
    const subscription = pubsub.subscription('signOnPush-gcr');
    await subscription.modifyPushConfig({});
    try {
      const registry = new RegistryClient({ allowedHosts: [stack.REGISTRY!] });
      const other = makeOciImage({
        tag: 'v1',
        dir: path.join(workDir, 'sample-unsigned'),
        content: 'not what was signed',
      });
      await run('skopeo', [
        'copy',
        '--quiet',
        '--preserve-digests',
        '--dest-tls-verify=false',
        other.source,
        `docker://${stack.REGISTRY}/${repository}@${other.digest}`,
      ]);
      const moved = await registry.getManifest({ host: stack.REGISTRY!, repository }, other.digest);
      await registry.putManifest(
        { host: stack.REGISTRY!, repository },
        'v1',
        moved.bytes,
        moved.descriptor.mediaType,
      );
      say(`${tag} now points to ${other.digest}`);
      movedTo = other.digest;
      await sigsentry('reverify', '--once');
    } finally {
      await subscription.modifyPushConfig({
        pushEndpoint: `${stack.FUNCTIONS_URL}/projects/${stack.GCP_PROJECT}/topics/gcr`,
      });
      await pubsub.close();
    }

    step(4, 'The transparency log serves a forked history (split view)');
    await fetch(`${stack.REKOR_URL}/__faults`, { method: 'POST', body: JSON.stringify({ splitView: true }) });
    await sigsentry('monitor', '--once');
    await fetch(`${stack.REKOR_URL}/__faults`, { method: 'DELETE' });

    step(5, 'What the security team sees');
    await sigsentry('alerts', '--open');
    return { tag, image, rogueLogIndex, movedTo };
  } finally {
    await db.terminate();
  }
}
