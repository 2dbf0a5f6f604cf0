import { createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface LogKeys {
  /** Rekor v1 log key: ECDSA P-256, as the public instance. */
  v1: KeyObject;
  /** Rekor v2 (rekor-tiles) log key: Ed25519, as the public instance. */
  v2: KeyObject;
  /** Trillian tree ID: the origin suffix of v1 checkpoints and the first 16 hex digits of UUIDs. */
  treeId: bigint;
}

function loadOrCreate(path: string, make: () => KeyObject): KeyObject {
  if (existsSync(path)) return createPrivateKey(readFileSync(path));
  const key = make();
  writeFileSync(path, key.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  return key;
}

export function loadKeys(dataDir: string): LogKeys {
  const v1 = loadOrCreate(
    join(dataDir, 'log-key-v1.pem'),
    () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
  );
  const v2 = loadOrCreate(join(dataDir, 'log-key-v2.pem'), () => generateKeyPairSync('ed25519').privateKey);
  const treeIdPath = join(dataDir, 'tree-id');
  if (!existsSync(treeIdPath)) {
    const id = randomBytes(8).readBigUInt64BE() & 0x7fffffffffffffffn;
    writeFileSync(treeIdPath, `${id}\n`);
  }
  return { v1, v2, treeId: BigInt(readFileSync(treeIdPath, 'utf8').trim()) };
}
