/**
 * A TUF repository made by hand and served over HTTP on 127.0.0.1, as the Sigstore public-good one
 * is laid out (TUF specification 1.0, https://theupdateframework.github.io/specification/latest/):
 * root, targets, snapshot and timestamp metadata, each `{"signed", "signatures"}` with Ed25519
 * signatures over the OLPC canonical JSON of `signed` (keys `{"keytype": "ed25519", "scheme":
 * "ed25519", "keyval": {"public": HEX}}`, key IDs the SHA-256 of a key's canonical JSON),
 * consistent snapshots (`N.root.json`, `N.snapshot.json`, `N.targets.json`, and targets as
 * `targets/SHA256.NAME`), one target: `trusted_root.json`, which @sigstore/tuf reads.
 *
 *   const repo = await startTufRepository(trustedRootBytes);
 *   getTrustedRoot({ mirrorURL: repo.url, rootPath: <a file holding repo.initialRoot>, … });
 *   repo.publish(otherTrustedRoot);   // targets, snapshot and timestamp versions + 1
 *   await repo.stop();
 */
import crypto, { type KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';

const seeds = createRequire(import.meta.url)('@sigstore/tuf/seeds.json') as Record<
  string,
  { targets: Record<string, string> }
>;
/** The public-good trusted_root.json embedded in @sigstore/tuf, byte for byte: real targets to serve. */
export const PUBLIC_GOOD_TRUSTED_ROOT = Buffer.from(
  seeds['https://tuf-repo-cdn.sigstore.dev']!.targets['trusted_root.json']!,
  'base64',
);
/** Sigstore's staging trusted root (test/fixtures/tlog): real, and trusting none of public-good's keys. */
export const STAGING_TRUSTED_ROOT = readFileSync(
  new URL('../fixtures/tlog/staging_trusted_root.json', import.meta.url),
);

const SPEC_VERSION = '1.0.31';
const DAY = 86_400_000;

/** OLPC canonical JSON, as TUF signs it: sorted keys, no white space, only `"` and `\` escaped. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean') return String(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`canonical JSON has integers only, not ${value}`);
    return String(value);
  }
  if (typeof value === 'string') return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${canonicalJson(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  throw new Error(`not JSON: ${typeof value}`);
}

interface RoleKey {
  id: string;
  privateKey: KeyObject;
  /** As root.json lists it. */
  json: { keytype: 'ed25519'; scheme: 'ed25519'; keyval: { public: string } };
}

function roleKey(): RoleKey {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  // The raw key: the last 32 bytes of its SubjectPublicKeyInfo.
  const raw = publicKey.export({ type: 'spki', format: 'der' }).subarray(-32);
  const json = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: raw.toString('hex') } } as const;
  const id = crypto.createHash('sha256').update(canonicalJson(json)).digest('hex');
  return { id, privateKey, json };
}

type Role = 'root' | 'targets' | 'snapshot' | 'timestamp';
type RoleKeys = Record<Role, RoleKey>;
const ROLES: Role[] = ['root', 'targets', 'snapshot', 'timestamp'];

const freshKeys = (): RoleKeys => ({
  root: roleKey(),
  targets: roleKey(),
  snapshot: roleKey(),
  timestamp: roleKey(),
});

function sign(signed: Record<string, unknown>, keys: RoleKey[]): Buffer {
  const bytes = Buffer.from(canonicalJson(signed));
  const signatures = keys.map((k) => ({
    keyid: k.id,
    sig: crypto.sign(null, bytes, k.privateKey).toString('hex'),
  }));
  return Buffer.from(JSON.stringify({ signed, signatures }, null, 2));
}

const sha256 = (bytes: Buffer) => crypto.createHash('sha256').update(bytes).digest('hex');
const expiresIn = (ms: number) => new Date(Date.now() + ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export interface PublishOptions {
  /**
   * targets.json's signed part is changed after it was signed (its trusted_root.json entry names
   * `tamperedTarget` instead): the signature no longer verifies. Snapshot and timestamp, signed
   * by their own keys, name the tampered file, so nothing but the signature tells.
   */
  tamperTargets?: { tamperedTarget: Buffer };
  /** The target file served is not the one targets.json hashes (a mirror serving other bytes). */
  tamperTarget?: Buffer;
}

export interface TufRepository {
  /** The repository's base URL (metadata at its root, targets under `/targets`). */
  readonly url: string;
  /** root.json version 1, the document a client is first given. */
  readonly initialRoot: string;
  /** Every request's path, in order. */
  readonly paths: string[];
  /** The root version served last. */
  readonly rootVersion: number;
  /** Publishes trusted_root.json: new targets, snapshot and timestamp versions. */
  publish(trustedRoot: Buffer, options?: PublishOptions): void;
  /**
   * Root version + 1 with new keys for every role, signed by the old root key and the new one
   * (a client verifies it with both), then `trustedRoot` published under the new keys.
   */
  rotateRoot(trustedRoot: Buffer): void;
  /** A new timestamp version, properly signed, that expired an hour ago (a frozen mirror). */
  expireTimestamp(): void;
  stop(): Promise<void>;
}

export async function startTufRepository(trustedRoot: Buffer): Promise<TufRepository> {
  const files = new Map<string, Buffer>();
  const paths: string[] = [];
  let keys = freshKeys();
  let rootVersion = 0;
  let targetsVersion = 0;
  let snapshotVersion = 0;
  let timestampVersion = 0;
  let snapshot: { version: number; bytes: Buffer } | undefined;

  const rootSigned = (version: number, k: RoleKeys) => ({
    _type: 'root',
    spec_version: SPEC_VERSION,
    version,
    expires: expiresIn(365 * DAY),
    consistent_snapshot: true,
    keys: Object.fromEntries(ROLES.map((r) => [k[r].id, k[r].json])),
    roles: Object.fromEntries(ROLES.map((r) => [r, { keyids: [k[r].id], threshold: 1 }])),
  });

  const publishRoot = (signers: RoleKey[]) => {
    rootVersion++;
    const bytes = sign(rootSigned(rootVersion, keys), signers);
    files.set(`/${rootVersion}.root.json`, bytes);
    files.set('/root.json', bytes);
    return bytes;
  };

  const publishTimestamp = (expires: string) => {
    if (snapshot === undefined) throw new Error('no snapshot published');
    timestampVersion++;
    files.set(
      '/timestamp.json',
      sign(
        {
          _type: 'timestamp',
          spec_version: SPEC_VERSION,
          version: timestampVersion,
          expires,
          meta: {
            'snapshot.json': {
              version: snapshot.version,
              length: snapshot.bytes.length,
              hashes: { sha256: sha256(snapshot.bytes) },
            },
          },
        },
        [keys.timestamp],
      ),
    );
  };

  const publish = (target: Buffer, options: PublishOptions = {}) => {
    const entry = (bytes: Buffer) => ({
      length: bytes.length,
      hashes: { sha256: sha256(bytes) },
      custom: { sigstore: { status: 'Active', usage: 'Unknown' } },
    });
    targetsVersion++;
    const targetsSigned: Record<string, unknown> = {
      _type: 'targets',
      spec_version: SPEC_VERSION,
      version: targetsVersion,
      expires: expiresIn(30 * DAY),
      targets: { 'trusted_root.json': entry(target) },
    };
    files.set(`/targets/${sha256(target)}.trusted_root.json`, options.tamperTarget ?? target);
    let targets = sign(targetsSigned, [keys.targets]);
    const tampered = options.tamperTargets?.tamperedTarget;
    if (tampered !== undefined) {
      const doc = JSON.parse(targets.toString('utf8')) as { signed: Record<string, unknown> };
      doc.signed['targets'] = { 'trusted_root.json': entry(tampered) };
      targets = Buffer.from(JSON.stringify(doc, null, 2));
      files.set(`/targets/${sha256(tampered)}.trusted_root.json`, tampered);
    }
    files.set(`/${targetsVersion}.targets.json`, targets);
    snapshotVersion++;
    const snapshotBytes = sign(
      {
        _type: 'snapshot',
        spec_version: SPEC_VERSION,
        version: snapshotVersion,
        expires: expiresIn(7 * DAY),
        meta: {
          'targets.json': {
            version: targetsVersion,
            length: targets.length,
            hashes: { sha256: sha256(targets) },
          },
        },
      },
      [keys.snapshot],
    );
    files.set(`/${snapshotVersion}.snapshot.json`, snapshotBytes);
    snapshot = { version: snapshotVersion, bytes: snapshotBytes };
    publishTimestamp(expiresIn(DAY));
  };

  const initialRoot = publishRoot([keys.root]).toString('utf8');
  publish(trustedRoot);

  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    paths.push(path);
    const body = req.method === 'GET' ? files.get(path) : undefined;
    if (body === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }).end(body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    initialRoot,
    paths,
    get rootVersion() {
      return rootVersion;
    },
    publish,
    rotateRoot(target) {
      const old = keys.root;
      keys = freshKeys();
      publishRoot([old, keys.root]);
      publish(target);
    },
    expireTimestamp() {
      publishTimestamp(expiresIn(-3_600_000));
    },
    async stop() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
