import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type RekorServer, startRekorServer } from '../../../emulators/rekor/server.ts';
import { InProcessSubjectLock } from '../../../functions/attach/lock.ts';
import { attachBundleReferrer } from '../../../functions/attach/referrer.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { LocalSigner } from '../../../functions/signing/local-signer.ts';
import { appendFillerEntry } from '../../helpers/hashedrekord.ts';
import {
  mirrorServerSignature,
  SERVER_IDENTITY,
  SERVER_IMAGE,
  SERVER_REFERENCE,
} from '../../helpers/keyless-fixture.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { signImage } from '../../helpers/sign-image.ts';
import { startTokenServer } from '../../helpers/token-server.ts';
import {
  PUBLIC_GOOD_TRUSTED_ROOT,
  STAGING_TRUSTED_ROOT,
  startTufRepository,
} from '../../helpers/tuf-repository.ts';
import { unsignedBundleFor } from '../../helpers/unsigned-bundle.ts';

const CLI = fileURLToPath(new URL('../../../functions/cli/sigsentry.ts', import.meta.url));

function sigsentry(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: number }).code), stdout, stderr });
    });
  });
}

describe('sigsentry verify', () => {
  let testRegistry: TestRegistry;
  let rekor: RekorServer;
  let dir: string;
  let env: Record<string, string>;
  let keyFile: string;
  let signedDigest: string;
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signer = new LocalSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());

  before(async () => {
    testRegistry = await startRegistry();
    dir = mkdtempSync(join(tmpdir(), 'sigsentry-cli-'));
    rekor = await startRekorServer({ dataDir: join(dir, 'rekor') });
    keyFile = join(dir, 'cosign.pub');
    writeFileSync(keyFile, signer.publicKeyPem);
    writeFileSync(join(dir, 'rekor.pub'), rekor.publicKeyPem);
    env = {
      SIGSENTRY_STACK_ENV: join(dir, 'no-stack.env'),
      REKOR_URL: rekor.url,
      REKOR_PUBLIC_KEY_FILE: join(dir, 'rekor.pub'),
      KMS_KEY: '',
    };
    // The entries the tests check must not sit at log index 0 (proto3 JSON omits a zero logIndex).
    await appendFillerEntry(rekor.url, 'log index 0');
    const registry = new RegistryClient({ allowedHosts: [testRegistry.host] });
    const pushed = await testRegistry.pushImage('team/app', 'v1');
    signedDigest = pushed.digest;
    await signImage(
      { registry, signer, rekorUrl: rekor.url },
      { host: testRegistry.host, repository: 'team/app', digest: pushed.digest },
    );
    await testRegistry.pushImage('team/app', 'unsigned');
  });
  after(async () => {
    await rekor.close();
    await testRegistry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('exits 0 for a signed image, by tag, with the reason on stdout', async () => {
    const run = await sigsentry(['verify', `${testRegistry.host}/team/app:v1`, '--key', keyFile], env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^OK valid: .*team\/app@sha256:/);
  });

  it('prints the verdict as JSON with --json', async () => {
    const run = await sigsentry(
      ['verify', `${testRegistry.host}/team/app:v1`, '--key', keyFile, '--json'],
      env,
    );
    assert.equal(run.code, 0, run.stderr);
    const verdict = JSON.parse(run.stdout);
    assert.equal(verdict.status, 'valid');
    assert.equal(verdict.findings.length, 2);
  });

  it('exits 1 for an unsigned image and says why', async () => {
    const run = await sigsentry(['verify', `${testRegistry.host}/team/app:unsigned`, '--key', keyFile], env);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /FAIL unsigned: .*\n {2}- no signature in either layout/);
  });

  it('exits 1 for a signed image checked against another key', async () => {
    const other = join(dir, 'other.pub');
    writeFileSync(
      other,
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }),
    );
    const run = await sigsentry(['verify', `${testRegistry.host}/team/app:v1`, '--key', other], env);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /FAIL unsigned/);
  });

  it('shows the control characters of what others wrote (a referrer predicate type) instead of writing them to the terminal', async () => {
    // Anyone who can push to a repository can attach a referrer; its statement's predicate type is
    // quoted in the reasons. Here it would set the terminal's title and erase the line.
    const registry = new RegistryClient({ allowedHosts: [testRegistry.host] });
    const pushed = await testRegistry.pushImage('team/app', 'hostile-referrer');
    const image = { host: testRegistry.host, repository: 'team/app', digest: pushed.digest };
    const hostile = JSON.parse(unsignedBundleFor(image, 'x').toString()) as {
      dsseEnvelope: { payload: string };
    };
    const statement = JSON.parse(Buffer.from(hostile.dsseEnvelope.payload, 'base64').toString());
    statement.predicateType = 'https://example.com/\u001b]0;owned\u0007\u001b[2K\u009b31m\u202e';
    hostile.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
    await attachBundleReferrer(
      { registry, lock: new InProcessSubjectLock() },
      image,
      Buffer.from(JSON.stringify(hostile)),
    );

    for (const json of [false, true]) {
      const run = await sigsentry(
        [
          'verify',
          `${testRegistry.host}/team/app:hostile-referrer`,
          '--key',
          keyFile,
          ...(json ? ['--json'] : []),
        ],
        env,
      );
      assert.equal(run.code, 1, run.stderr);
      for (const out of [run.stdout, run.stderr]) {
        assert.doesNotMatch(out, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
      }
      assert.match(run.stdout, /https:\/\/example\.com\/\\u001b\]0;owned\\u0007\\u001b\[2K\\u009b31m\\u202e/);
      if (json) {
        // Still the same value for a program that reads it.
        const verdict = JSON.parse(run.stdout) as { findings: { reason?: string }[] };
        assert.ok(verdict.findings.some((f) => f.reason?.includes(statement.predicateType)));
      }
    }
  });

  it('verifies an image on a token-authenticated mirror once its token realm is a --redirect-host', async () => {
    const tokens = await startTokenServer();
    const mirror = await startRegistry({ tokenAuth: tokens });
    try {
      // The image and its cosign signature, copied as a mirror would; the payload names the origin.
      const sigTag = `${signedDigest.replace(':', '-')}.sig`;
      for (const tag of ['v1', sigTag]) {
        await mirror.skopeo(
          'copy',
          '--quiet',
          '--preserve-digests',
          '--src-tls-verify=false',
          '--dest-tls-verify=false',
          '--dest-creds',
          tokens.pushCredentials,
          `docker://${testRegistry.host}/team/app:${tag}`,
          `docker://${mirror.host}/team/app:${tag}`,
        );
      }
      tokens.requests.length = 0;
      const args = [
        'verify',
        `${mirror.host}/team/app:v1`,
        '--key',
        keyFile,
        '--reference',
        `${testRegistry.host}/team/app`,
      ];
      const refused = await sigsentry(args, env);
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(
        refused.stderr,
        new RegExp(`refusing to contact ${tokens.host}: not in the registry allowlist`),
      );
      assert.equal(tokens.requests.length, 0);

      const run = await sigsentry([...args, '--redirect-host', tokens.host], env);
      assert.equal(run.code, 0, `${run.stdout}${run.stderr}`);
      assert.match(
        run.stdout,
        new RegExp(`^OK valid: ${mirror.host.replace(/\./g, '\\.')}/team/app@sha256:`),
      );
      assert.ok(tokens.requests.length >= 1);
      assert.ok(
        tokens.requests.every(
          (r) => r.authorization === undefined && r.scopes.join() === 'repository:team/app:pull',
        ),
      );
    } finally {
      await mirror.stop();
      await tokens.stop();
    }
  });

  it('--identity judges with the public-good root refreshed through TUF (SIGSTORE_TUF_URL), and fails when it cannot be', async () => {
    // The real keyless signature of a public image, mirrored here; the TUF repository serves first
    // the staging root (the signature's chain and log are not in it), then the public-good one.
    const registry = new RegistryClient({ allowedHosts: [testRegistry.host] });
    const image = { ...SERVER_IMAGE, host: testRegistry.host };
    await mirrorServerSignature(registry, image);
    const tuf = await startTufRepository(STAGING_TRUSTED_ROOT);
    try {
      const tufEnv = {
        ...env,
        SIGSTORE_TUF_URL: tuf.url,
        SIGSTORE_TUF_ROOT: tuf.initialRoot,
        // The metadata cache (os.tmpdir()/sigsentry-tuf) goes with the test's directory.
        TMPDIR: dir,
      };
      const args = [
        'verify',
        `${image.host}/${image.repository}@${image.digest}`,
        '--identity',
        SERVER_IDENTITY.subjectAlternativeName,
        '--issuer',
        SERVER_IDENTITY.issuer,
        '--reference',
        SERVER_REFERENCE,
      ];
      const staging = await sigsentry(args, tufEnv);
      assert.equal(staging.code, 1, staging.stdout + staging.stderr);
      assert.ok(tuf.paths.includes('/timestamp.json'), 'the root was refreshed from the repository');
      tuf.publish(PUBLIC_GOOD_TRUSTED_ROOT);
      const good = await sigsentry(args, tufEnv);
      assert.equal(good.code, 0, good.stdout + good.stderr);
      assert.match(good.stdout, /valid/);
      tuf.expireTimestamp();
      const expired = await sigsentry(args, tufEnv);
      assert.equal(expired.code, 1, expired.stdout + expired.stderr);
      assert.match(
        expired.stderr,
        /could not be refreshed through TUF from http:\/\/127\.0\.0\.1:\d+ \(expired/,
        'never judged with the root it had before',
      );
      const misspelt = await sigsentry(args, { ...tufEnv, SIGSTORE_TUF_URL: 'None' });
      assert.equal(misspelt.code, 2, misspelt.stderr);
      assert.match(misspelt.stderr, /SIGSTORE_TUF_URL/);
    } finally {
      await tuf.stop();
    }
  });

  it('exits 2 on usage errors, with a reason', async () => {
    for (const args of [
      ['verify'],
      ['verify', 'a', 'b'],
      ['verify', `${testRegistry.host}/team/app:v1`, '--identity', 'someone@example.com'],
      ['verify', `${testRegistry.host}/team/app:v1`, '--key', keyFile, '--identity', 'x', '--issuer', 'y'],
      ['verify', `${testRegistry.host}/team/app:v1`, '--bogus'],
      ['verify', 'not a reference', '--key', keyFile],
      ['verify', `${testRegistry.host}/team/app:v1`, '--key', join(dir, 'missing.pub')],
      [
        'verify',
        `${testRegistry.host}/team/app:v1`,
        '--key',
        keyFile,
        '--redirect-host',
        'https://auth.example',
      ],
      ['verify', `${testRegistry.host}/team/app:v1`],
      ['reverify'],
    ]) {
      const run = await sigsentry(args, env);
      assert.equal(run.code, 2, args.join(' '));
      assert.match(run.stderr, /sigsentry (verify|reverify): \S/, args.join(' '));
    }
  });
});
