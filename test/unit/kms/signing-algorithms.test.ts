/**
 * Which KMS algorithms sigsentry signs with (SIGNING_ALGORITHMS), established against the code that
 * makes and checks the signatures: for every algorithm the KMS signer can read, a key version in the
 * KMS emulator signs both formats as signOnPush does (@sigstore/sign's builders), unrestricted, and
 * - the Rekor emulator is asked to log each (hashedrekord for the cosign layout, dsse for the bundle);
 * - sigsentry's verifier (@sigstore/verify) checks each bundle against the key;
 * - each signature is checked as cosign checks a PEM key (sigstore's LoadVerifier with SHA-256:
 *   PKCS#1 v1.5 for RSA, pure Ed25519) over what it signs (the payload; the DSSE PAE).
 * The algorithms passing all of that in both formats are exactly SIGNING_ALGORITHMS; KmsSigner
 * refuses every other before a single AsymmetricSign, and infra offers only those.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Bundle } from '@sigstore/bundle';
import {
  DSSEBundleBuilder,
  MessageSignatureBundleBuilder,
  RekorWitness,
  type Signature,
  type Signer,
} from '@sigstore/sign';
import { ensureSigningKey } from '../../../emulators/kms/setup.ts';
import type { RekorServer } from '../../../emulators/rekor/server.ts';
import { isRetryable } from '../../../functions/errors.ts';
import {
  isSigningAlgorithm,
  KMS_SIGNING_ALGORITHMS,
  SIGNING_ALGORITHMS,
} from '../../../functions/signing/algorithms.ts';
import { KmsKeyUnusableError } from '../../../functions/signing/errors.ts';
import { KmsSigner } from '../../../functions/signing/kms-signer.ts';
import { verifyClaimed } from '../../../functions/verify/check.ts';
import { expectedKeyFromPem } from '../../../functions/verify/policy.ts';
import { logKey } from '../../../functions/verify/trust.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';
import { loadTerraform } from '../infra/terraform.ts';
import { type Harness, LOCATION, PROJECT, startHarness } from './helpers.ts';

const NO_RETRY = { maxRetries: 0, timeout: 30_000 };
const IN_TOTO = 'application/vnd.in-toto+json';

function preAuthEncoding(type: string, payload: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${payload.length} `),
    payload,
  ]);
}

/** Signs through the KMS client with whatever algorithm the key version has: no sigsentry checks. */
function unrestrictedSigner(h: Harness, keyVersion: string, pem: string, algorithm: string): Signer {
  const alg = KMS_SIGNING_ALGORITHMS.get(algorithm)!;
  const der = crypto.createPublicKey(pem).export({ type: 'spki', format: 'der' });
  const hint = crypto.createHash('sha256').update(der).digest('base64');
  return {
    async sign(data: Buffer): Promise<Signature> {
      const request = alg.hash
        ? { name: keyVersion, digest: { [alg.hash]: crypto.createHash(alg.hash).update(data).digest() } }
        : { name: keyVersion, data };
      const [response] = await h.client.asymmetricSign(request, NO_RETRY);
      return {
        signature: Buffer.from(response.signature!),
        key: { $case: 'publicKey', publicKey: pem, hint },
      };
    },
  };
}

/** As cosign verifies with a PEM key: sigstore's LoadVerifier(key, crypto.SHA256). */
function cosignVerifies(pem: string, signed: Buffer, signature: Buffer): boolean {
  const key = crypto.createPublicKey(pem);
  if (key.asymmetricKeyType === 'ed25519') return crypto.verify(null, signed, key, signature);
  const padding = key.asymmetricKeyType === 'rsa' ? { padding: crypto.constants.RSA_PKCS1_PADDING } : {};
  return crypto.verify('sha256', signed, { key, ...padding }, signature);
}

interface FormatResult {
  logged: boolean;
  sigstoreJs: boolean;
  cosign: boolean;
  detail: string;
}

describe('the KMS algorithms sigsentry signs with', () => {
  let h: Harness;
  let log: TestLog;
  let rekor: RekorServer;
  const keyVersions = new Map<string, string>();

  before(async () => {
    h = await startHarness();
    log = await startTestLog('signing-algorithms-rekor', { unrelatedFirstEntry: true });
    rekor = log.rekor;
    for (const algorithm of KMS_SIGNING_ALGORITHMS.keys()) {
      keyVersions.set(
        algorithm,
        await ensureSigningKey(h.client, {
          project: PROJECT,
          location: LOCATION,
          keyRing: 'algorithms',
          key: algorithm.toLowerCase().replaceAll('_', '-'),
          algorithm,
        }),
      );
    }
  });
  after(async () => {
    await log.stop();
    await h.stop();
  });

  const treeSize = async (): Promise<number> =>
    ((await (await fetch(`${rekor.url}/api/v1/log`)).json()) as { treeSize: number }).treeSize;

  /** Signs one format with `signer`, then asks the log, sigsentry's verifier and cosign's check. */
  async function tryFormat(
    format: 'cosign' | 'bundle',
    signer: Signer,
    pem: string,
    label: string,
  ): Promise<FormatResult> {
    const witness = new RekorWitness({
      rekorBaseURL: rekor.url,
      entryType: 'dsse',
      majorApiVersion: 1,
      fetchOnConflict: true,
      retry: { retries: 0 },
      timeout: 15_000,
    });
    const payload = Buffer.from(
      format === 'cosign'
        ? JSON.stringify({ critical: { identity: { 'docker-reference': label } }, optional: {} })
        : JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: label }] }),
    );
    const build = (witnesses: RekorWitness[]): Promise<Bundle> =>
      format === 'cosign'
        ? new MessageSignatureBundleBuilder({ signer, witnesses }).create({ data: payload })
        : new DSSEBundleBuilder({ signer, witnesses }).create({ data: payload, type: IN_TOTO });
    let logged = true;
    let detail = 'logged';
    try {
      await build([witness]);
    } catch (err) {
      logged = false;
      detail = (err as Error).message;
    }
    // Verified without the log, so a signature the log refused is still judged on its own.
    const bundle = await build([]);
    const key = expectedKeyFromPem(pem);
    let sigstoreJs = true;
    try {
      verifyClaimed(
        bundle,
        format === 'cosign' ? payload : undefined,
        { kind: 'key', key },
        { keys: [key], identities: [], requireTlog: false },
        { logs: [logKey(rekor.url, rekor.publicKeyPem)] },
      );
    } catch (err) {
      sigstoreJs = false;
      detail += `; sigstore-js: ${(err as Error).message}`;
    }
    const content = bundle.content;
    const [signed, signature] =
      content.$case === 'messageSignature'
        ? [payload, content.messageSignature.signature]
        : [preAuthEncoding(IN_TOTO, payload), content.dsseEnvelope.signatures[0]!.sig];
    return { logged, sigstoreJs, cosign: cosignVerifies(pem, signed, signature), detail };
  }

  it('are exactly those whose signatures both formats log and cosign and sigstore-js verify', async (t) => {
    const usable: string[] = [];
    const report: string[] = [];
    for (const [algorithm, keyVersion] of keyVersions) {
      const [pub] = await h.client.getPublicKey({ name: keyVersion });
      const signer = unrestrictedSigner(h, keyVersion, pub.pem!, algorithm);
      const results = {
        cosign: await tryFormat('cosign', signer, pub.pem!, `cosign/${algorithm}`),
        bundle: await tryFormat('bundle', signer, pub.pem!, `bundle/${algorithm}`),
      };
      const ok = Object.values(results).every((r) => r.logged && r.sigstoreJs && r.cosign);
      if (ok) usable.push(algorithm);
      report.push(
        `${algorithm}: ${Object.entries(results)
          .map(([f, r]) => `${f} logged=${r.logged} sigstore-js=${r.sigstoreJs} cosign=${r.cosign}`)
          .join(' | ')}`,
      );
    }
    t.diagnostic(report.join('\n'));
    assert.deepEqual(usable, [...SIGNING_ALGORITHMS], report.join('\n'));
    // The reviewer's findings, each checked: the cosign layout's hashedrekord entry is refused for
    // P-384, RSA SHA-512, PSS and Ed25519; the bundle's dsse entry for RSA SHA-512 and PSS.
    for (const line of report) {
      const name = line.slice(0, line.indexOf(':'));
      const cosignLogged = /cosign logged=true/.test(line);
      const bundleLogged = /bundle logged=true/.test(line);
      assert.equal(cosignLogged, isSigningAlgorithm(name), line);
      const bundleRefused = name === 'RSA_SIGN_PKCS1_4096_SHA512' || name.startsWith('RSA_SIGN_PSS_');
      assert.equal(bundleLogged, !bundleRefused, line);
    }
  });

  it('KmsSigner signs both formats with each of them', async () => {
    for (const algorithm of SIGNING_ALGORITHMS) {
      const signer = new KmsSigner({
        client: h.newClient(),
        keyVersion: keyVersions.get(algorithm)!,
        callOptions: NO_RETRY,
      });
      const { pem } = await signer.publicKey();
      for (const format of ['cosign', 'bundle'] as const) {
        const r = await tryFormat(format, signer, pem, `kms-signer/${format}/${algorithm}`);
        assert.deepEqual(
          [r.logged, r.sigstoreJs, r.cosign],
          [true, true, true],
          `${algorithm} ${format}: ${r.detail}`,
        );
      }
    }
  });

  it('KmsSigner refuses every other algorithm, non-retryably, before anything is signed or logged', async () => {
    const others = [...KMS_SIGNING_ALGORITHMS.keys()].filter((a) => !SIGNING_ALGORITHMS.includes(a));
    assert.deepEqual(others, [
      'EC_SIGN_P384_SHA384',
      'RSA_SIGN_PKCS1_4096_SHA512',
      'RSA_SIGN_PSS_2048_SHA256',
      'RSA_SIGN_PSS_3072_SHA256',
      'RSA_SIGN_PSS_4096_SHA256',
      'RSA_SIGN_PSS_4096_SHA512',
      'EC_SIGN_ED25519',
    ]);
    const logSize = await treeSize();
    const signs = h.emulator.faults.calls['AsymmetricSign'] ?? 0;
    for (const algorithm of others) {
      const keyVersion = keyVersions.get(algorithm)!;
      const check = (err: unknown): boolean => {
        assert.ok(err instanceof KmsKeyUnusableError, `${algorithm}: ${String(err)}`);
        assert.equal(isRetryable(err), false);
        assert.equal(err.details['keyVersion'], keyVersion);
        assert.equal(err.details['algorithm'], algorithm);
        assert.deepEqual(err.details['supported'], [...SIGNING_ALGORITHMS]);
        for (const named of [keyVersion, algorithm, ...SIGNING_ALGORITHMS]) {
          assert.ok(err.message.includes(named), `the message names ${named}: ${err.message}`);
        }
        return true;
      };
      const signer = new KmsSigner({ client: h.newClient(), keyVersion, callOptions: NO_RETRY });
      // Verification still reads the key version (verify, reverify and monitor accept it as before).
      assert.equal((await signer.publicKey()).algorithm.name, algorithm);
      await assert.rejects(signer.sign(Buffer.from('x')), check);
      await assert.rejects(signer.signatureKey(), check);
      await assert.rejects(
        new MessageSignatureBundleBuilder({
          signer,
          witnesses: [
            new RekorWitness({ rekorBaseURL: rekor.url, entryType: 'dsse', retry: { retries: 0 } }),
          ],
        }).create({ data: Buffer.from('{"critical":{}}') }),
        check,
      );
    }
    assert.equal((h.emulator.faults.calls['AsymmetricSign'] ?? 0) - signs, 0, 'no AsymmetricSign call');
    assert.equal(await treeSize(), logSize, 'nothing logged');
  });

  it("infra's key_algorithm offers exactly these, and says so", async () => {
    const variable = (await loadTerraform()).variable['key_algorithm']!;
    const validation = (variable['validation'] as Array<Record<string, unknown>>)[0]!;
    const offered = [...String(validation['condition']).matchAll(/"([A-Z0-9_]+)"/g)].map((m) => m[1]);
    assert.deepEqual(offered, [...SIGNING_ALGORITHMS]);
    assert.ok(SIGNING_ALGORITHMS.includes(String(variable['default'])));
    assert.doesNotMatch(String(variable['description']), /verify all of these/);
    assert.match(String(validation['error_message']), /EC_SIGN_P256_SHA256/);
  });
});
