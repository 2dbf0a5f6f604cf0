/**
 * Fault injection, switchable at runtime: in-process through the handle's `faults`, or from another
 * process through the admin HTTP port. A count says how many of the next matching calls fail;
 * 'always' keeps failing until cleared.
 */

export type FaultCount = number | 'always';

export interface FaultSettings {
  /** Calls answered UNAVAILABLE (gRPC 14) before any work is done. */
  unavailable?: FaultCount;
  /** Restrict `unavailable` to these methods (e.g. ['AsymmetricSign']); all methods when absent. */
  unavailableMethods?: string[];
  /** Latency added to every call, in milliseconds. */
  delayMs?: number;
  /** AsymmetricSign answers with a signatureCrc32c that does not match the signature. */
  wrongSignatureCrc32c?: FaultCount;
  /** AsymmetricSign answers verifiedDigestCrc32c / verifiedDataCrc32c false although a CRC was sent. */
  wrongVerifiedDigestCrc32c?: FaultCount;
  /** AsymmetricSign answers a signature that does not verify, with a CRC32C that matches it. */
  corruptSignature?: FaultCount;
  /** AsymmetricSign answers the name of another key version. */
  wrongName?: FaultCount;
  /** GetPublicKey answers a pemCrc32c that does not match the PEM. */
  wrongPemCrc32c?: FaultCount;
  /**
   * A version created while this is set (CreateCryptoKeyVersion, a CryptoKey's first) starts
   * PENDING_GENERATION, as an HSM version does on Cloud KMS, and stays so for this many calls that
   * need it enabled (GetPublicKey, AsymmetricSign), each refused as Cloud KMS refuses them
   * (FAILED_PRECONDITION `… is not enabled, current state is: PENDING_GENERATION.`); the next such
   * call finds it ENABLED. GetCryptoKeyVersion and ListCryptoKeyVersions show the state without
   * counting; it may not be enabled, disabled or destroyed meanwhile. 0 or unset: versions start ENABLED.
   */
  newVersionsPendingFor?: number;
}

type CountedFault = Exclude<keyof FaultSettings, 'unavailableMethods' | 'delayMs' | 'newVersionsPendingFor'>;

const COUNTED: CountedFault[] = [
  'unavailable',
  'wrongSignatureCrc32c',
  'wrongVerifiedDigestCrc32c',
  'corruptSignature',
  'wrongName',
  'wrongPemCrc32c',
];

export class Faults {
  private settings: FaultSettings = {};
  /** Calls received per gRPC method name, faulted or not. */
  readonly calls: Record<string, number> = {};

  /** Merges `settings` into the current ones; a field set to undefined or 0 clears that fault. */
  set(settings: FaultSettings): void {
    this.settings = { ...this.settings, ...settings };
  }

  clear(): void {
    this.settings = {};
  }

  current(): FaultSettings {
    return structuredClone(this.settings);
  }

  get delayMs(): number {
    return this.settings.delayMs ?? 0;
  }

  /** How many calls a version created now stays PENDING_GENERATION for (0: it starts ENABLED). */
  get newVersionsPendingFor(): number {
    return this.settings.newVersionsPendingFor ?? 0;
  }

  /** Whether this call should fail UNAVAILABLE; consumes one count if so. */
  takeUnavailable(method: string): boolean {
    const only = this.settings.unavailableMethods;
    if (only && only.length > 0 && !only.includes(method)) return false;
    return this.take('unavailable');
  }

  /** Whether the named fault applies to this call; consumes one count if so. */
  take(fault: CountedFault): boolean {
    const n = this.settings[fault];
    if (n === 'always') return true;
    if (typeof n !== 'number' || n <= 0) return false;
    this.settings[fault] = n - 1;
    return true;
  }

  countCall(method: string): void {
    this.calls[method] = (this.calls[method] ?? 0) + 1;
  }

  static isValid(value: unknown): value is FaultSettings {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
    for (const [k, v] of Object.entries(value)) {
      if ((COUNTED as string[]).includes(k)) {
        if (!(v === undefined || v === 'always' || (typeof v === 'number' && Number.isInteger(v) && v >= 0)))
          return false;
      } else if (k === 'newVersionsPendingFor') {
        if (!(v === undefined || (typeof v === 'number' && Number.isInteger(v) && v >= 0))) return false;
      } else if (k === 'delayMs') {
        if (!(v === undefined || (typeof v === 'number' && v >= 0))) return false;
      } else if (k === 'unavailableMethods') {
        if (!(v === undefined || (Array.isArray(v) && v.every((m) => typeof m === 'string')))) return false;
      } else return false;
    }
    return true;
  }
}
