/**
 * The emulator's resources (key rings, crypto keys, versions) and their persistence: one JSON file
 * for the resource tree, one PEM file per private key, both written atomically (temp file, then
 * rename) so a killed emulator leaves either the old state or the new one.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

export type VersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED' | 'DESTROY_SCHEDULED' | 'PENDING_GENERATION';

export interface KeyRingRecord {
  name: string;
  createTime: string;
}

export interface CryptoKeyRecord {
  name: string;
  purpose: string;
  algorithm: string;
  protectionLevel: string;
  labels: Record<string, string>;
  createTime: string;
  nextVersion: number;
}

export interface VersionRecord {
  name: string;
  state: VersionState;
  algorithm: string;
  protectionLevel: string;
  createTime: string;
  generateTime: string;
  publicPem: string;
  /** File name under <dataDir>/keys. */
  privateKeyFile: string;
  /** PENDING_GENERATION only: calls still refused before it becomes ENABLED (faults.ts newVersionsPendingFor). */
  pendingCalls?: number;
}

interface StateFile {
  schemaVersion: 1;
  keyRings: KeyRingRecord[];
  cryptoKeys: CryptoKeyRecord[];
  versions: VersionRecord[];
}

export class KmsStore {
  readonly keyRings = new Map<string, KeyRingRecord>();
  readonly cryptoKeys = new Map<string, CryptoKeyRecord>();
  readonly versions = new Map<string, VersionRecord>();
  private readonly privateKeys = new Map<string, KeyObject>();
  private readonly unsavedKeys = new Map<string, string>();
  private readonly dataDir: string;
  // Saves are chained so two concurrent writers never interleave their renames.
  private saving: Promise<void> = Promise.resolve();

  private constructor(dataDir: string) {
    this.dataDir = dataDir;
  }

  static async open(dataDir: string): Promise<KmsStore> {
    const store = new KmsStore(dataDir);
    await mkdir(path.join(dataDir, 'keys'), { recursive: true, mode: 0o700 });
    let text: string | undefined;
    try {
      text = await readFile(store.statePath(), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== undefined) {
      const state = JSON.parse(text) as StateFile;
      for (const r of state.keyRings) store.keyRings.set(r.name, r);
      for (const k of state.cryptoKeys) store.cryptoKeys.set(k.name, k);
      for (const v of state.versions) store.versions.set(v.name, v);
    }
    return store;
  }

  private statePath(): string {
    return path.join(this.dataDir, 'kms-state.json');
  }

  async privateKey(version: VersionRecord): Promise<KeyObject> {
    let key = this.privateKeys.get(version.name);
    if (!key) {
      const pem = await readFile(path.join(this.dataDir, 'keys', version.privateKeyFile), 'utf8');
      key = crypto.createPrivateKey(pem);
      this.privateKeys.set(version.name, key);
    }
    return key;
  }

  /** Keeps the key in memory at once; save() writes it to disk before the state that names it. */
  setPrivateKey(version: VersionRecord, pem: string): void {
    this.privateKeys.set(version.name, crypto.createPrivateKey(pem));
    this.unsavedKeys.set(version.privateKeyFile, pem);
  }

  save(): Promise<void> {
    const next = this.saving.then(async () => {
      for (const [file, pem] of this.unsavedKeys) {
        await atomicWrite(path.join(this.dataDir, 'keys', file), pem, 0o600);
        this.unsavedKeys.delete(file);
      }
      const state: StateFile = {
        schemaVersion: 1,
        keyRings: [...this.keyRings.values()],
        cryptoKeys: [...this.cryptoKeys.values()],
        versions: [...this.versions.values()],
      };
      return atomicWrite(this.statePath(), `${JSON.stringify(state, null, 2)}\n`, 0o600);
    });
    this.saving = next.catch(() => {});
    return next;
  }
}

async function atomicWrite(file: string, content: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, content, { mode });
  await rename(tmp, file);
}
