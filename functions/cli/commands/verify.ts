/**
 * `sigsentry verify IMAGE [--key PEM|gcpkms://… | --identity … --issuer …] [--reference REPO] [--json]`:
 * the image verifier from the command line. Without --key or --identity the stack's (or the
 * environment's) KMS_KEY is expected. Exit 0 valid, 1 not valid (or could not be checked), 2 usage.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { logPublicKeyFromEnv } from '../../config/log-key.ts';
import { rekorUrlFromEnv } from '../../config/rekor-url.ts';
import { InvalidInputError } from '../../errors.ts';
import { createLogger } from '../../logging/logger.ts';
import { RegistryClient } from '../../registry/client.ts';
import { googleRegistryAuthorization } from '../../registry/google-auth.ts';
import { type DigestReference, isHost, parseImageReference } from '../../registry/reference.ts';
import { createKmsClient } from '../../signing/kms-client.ts';
import { keyVersionState } from '../../signing/kms-signer.ts';
import type { VerifierTrust } from '../../verify/check.ts';
import {
  type ExpectedKey,
  expectedKeyFromKms,
  expectedKeyFromPem,
  type ImagePolicy,
  isKmsKeyReference,
} from '../../verify/policy.ts';
import {
  type PublicGoodTuf,
  publicGoodRootSource,
  publicGoodTufFromEnv,
} from '../../verify/public-good-root.ts';
import { logKey } from '../../verify/trust.ts';
import type { Verdict } from '../../verify/verdict.ts';
import { verifyImage } from '../../verify/verifier.ts';
import { inline, print } from '../terminal.ts';
import { commandEnv, say } from './stack-env.ts';

export const VERIFY_USAGE = `usage: sigsentry verify IMAGE [--key PEM-FILE|gcpkms://projects/…/cryptoKeyVersions/N]...
                        [--identity SAN --issuer URL] [--reference HOST/REPO]...
                        [--redirect-host HOST]... [--json]

Checks that IMAGE (HOST/REPO:TAG or HOST/REPO@sha256:…) carries a valid signature, in cosign's .sig
layout or as a Sigstore bundle referrer, from an expected key (default: KMS_KEY of the environment or
the local stack) or keyless identity (checked against the Sigstore public-good trusted root, refreshed
through TUF from SIGSTORE_TUF_URL as reverifyImages does; none: the root embedded in sigsentry), with
transparency-log inclusion (REKOR_URL and REKOR_PUBLIC_KEY[_FILE], the key not needed for a log in the
public-good trusted root) and the KMS key version enabled.
--redirect-host allows a host the registry redirects blob reads to or names as its token realm
(Docker Hub: auth.docker.io and its blob hosts; ghcr.io: pkg-containers.githubusercontent.com).
Exit codes: 0 valid, 1 not valid, 2 usage error.`;

class UsageError extends Error {}

interface VerifyArgs {
  image: string;
  keys: string[];
  identity?: string;
  issuer?: string;
  references: string[];
  redirectHosts: string[];
  json: boolean;
}

function parse(argv: string[]): VerifyArgs | 'help' {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        key: { type: 'string', multiple: true },
        identity: { type: 'string' },
        issuer: { type: 'string' },
        reference: { type: 'string', multiple: true },
        'redirect-host': { type: 'string', multiple: true },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values as {
    key?: string[];
    identity?: string;
    issuer?: string;
    reference?: string[];
    'redirect-host'?: string[];
    json: boolean;
    help: boolean;
  };
  if (v.help) return 'help';
  if (parsed.positionals.length !== 1) throw new UsageError('give exactly one IMAGE');
  if ((v.identity === undefined) !== (v.issuer === undefined)) {
    throw new UsageError('--identity and --issuer go together');
  }
  if (v.identity !== undefined && (v.key?.length ?? 0) > 0) {
    throw new UsageError('give either --key or --identity/--issuer, not both');
  }
  const redirectHosts = (v['redirect-host'] ?? []).map((h) => h.toLowerCase());
  const badHost = redirectHosts.find((h) => !isHost(h));
  if (badHost !== undefined) throw new UsageError(`--redirect-host ${badHost} is not HOST[:PORT]`);
  return {
    image: parsed.positionals[0]!,
    keys: v.key ?? [],
    ...(v.identity === undefined ? {} : { identity: v.identity, issuer: v.issuer! }),
    references: v.reference ?? [],
    redirectHosts,
    json: v.json,
  };
}

function readKeyFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --key ${file}: ${(err as Error).message}`);
  }
}

/** The verdict as text: its line, then one line per reason (whose line breaks are shown, not made). */
export function describeVerdict(verdict: Verdict): string {
  const mark = verdict.status === 'valid' ? 'OK' : 'FAIL';
  return [
    `${mark} ${verdict.status}: ${inline(verdict.image)}`,
    ...verdict.reasons.map((r) => `  - ${inline(r)}`),
  ].join('\n');
}

export async function runVerify(argv: string[]): Promise<number> {
  let args: VerifyArgs | 'help';
  let env: NodeJS.ProcessEnv;
  try {
    args = parse(argv);
    if (args === 'help') {
      print(`${VERIFY_USAGE}\n`);
      return 0;
    }
    env = commandEnv();
    if (args.keys.length === 0 && args.identity === undefined) {
      if (!env.KMS_KEY)
        throw new UsageError('no expected signer: give --key or --identity/--issuer, or set KMS_KEY');
      args.keys = env.KMS_KEY.split(',')
        .map((k) => k.trim())
        .filter(Boolean);
    }
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    say(`sigsentry verify: ${err.message}`);
    say(VERIFY_USAGE);
    return 2;
  }

  let reference: ReturnType<typeof parseImageReference>;
  const pems: string[] = [];
  let logKeyPem: string | undefined;
  let rekor: string | undefined;
  let tuf: PublicGoodTuf | undefined;
  try {
    reference = parseImageReference(args.image);
    if (args.identity !== undefined) tuf = publicGoodTufFromEnv(env);
    rekor = rekorUrlFromEnv(env);
    if (rekor !== undefined && rekor !== 'none') logKeyPem = logPublicKeyFromEnv(env, rekor);
    for (const key of args.keys) if (!isKmsKeyReference(key)) pems.push(readKeyFile(key));
  } catch (err) {
    if (!(err instanceof UsageError || err instanceof InvalidInputError)) throw err;
    say(`sigsentry verify: ${err.message}`);
    return 2;
  }

  const kmsKeys = args.keys.filter(isKmsKeyReference);
  const kms =
    kmsKeys.length > 0 ? createKmsClient(env.KMS_ENDPOINT ? { endpoint: env.KMS_ENDPOINT } : {}) : undefined;
  try {
    let keys: ExpectedKey[];
    try {
      keys = [
        ...pems.map((pem) => expectedKeyFromPem(pem)),
        ...(await Promise.all(kmsKeys.map((k) => expectedKeyFromKms(kms!, k)))),
      ];
    } catch (err) {
      if (!(err instanceof InvalidInputError)) throw err;
      say(`sigsentry verify: ${err.message}`);
      return 2;
    }
    const policy: ImagePolicy = {
      keys,
      identities:
        args.identity === undefined ? [] : [{ subjectAlternativeName: args.identity, issuer: args.issuer! }],
      references: args.references,
    };
    // A root that cannot be refreshed is this run's error (exit 1: its message names the mirror and
    // why, below), never replaced by an older one; the source's log line would only repeat it.
    const publicGoodRoot =
      tuf === undefined
        ? undefined
        : await publicGoodRootSource({
            tuf,
            logger: createLogger({ command: 'verify' }, () => {}),
          }).forPass();
    const trust: VerifierTrust = {
      logs: rekor !== undefined && rekor !== 'none' && logKeyPem ? [logKey(rekor, logKeyPem)] : [],
      ...(publicGoodRoot === undefined ? {} : { publicGoodRoot }),
    };
    const registry = new RegistryClient({
      allowedHosts: [reference.host],
      redirectHosts: args.redirectHosts,
      authorization: googleRegistryAuthorization(),
    });
    const digest = reference.digest ?? (await registry.resolve(reference)).digest;
    const image: DigestReference = { host: reference.host, repository: reference.repository, digest };
    const verdict = await verifyImage(
      { registry, trust, ...(kms ? { keyState: (name: string) => keyVersionState(kms, name) } : {}) },
      image,
      policy,
    );
    if (args.json) print(`${JSON.stringify(verdict, null, 2)}\n`);
    else print(`${describeVerdict(verdict)}\n`);
    if (verdict.status !== 'valid' && args.json)
      say(`sigsentry verify: ${verdict.status}: ${inline(verdict.reasons[0] ?? '')}`);
    return verdict.status === 'valid' ? 0 : 1;
  } catch (err) {
    say(`sigsentry verify: could not verify ${args.image}: ${inline((err as Error).message)}`);
    return 1;
  } finally {
    await kms?.close();
  }
}
