/**
 * Every call signOnPush makes to its dependencies (registry, signing record, KMS, the log, the
 * recorded deletions) passes through one place, so it can be wrapped as a whole: timed here, and
 * counted or broken at a chosen step by the crash-point tests.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Witness } from '@sigstore/sign';
import type { LockHold, SubjectLock } from '../attach/lock.ts';
import type { Registry } from '../registry/registry.ts';
import type { DeletionStore } from '../state/deletion-records.ts';
import type { SigningStore } from '../state/signing-records.ts';
import type { KeyedSigner, SignOnPushDeps } from './core.ts';

/** Wraps one dependency call, named `dependency.method`. */
export type CallWrapper = <A extends unknown[], R>(
  name: string,
  call: (...args: A) => Promise<R>,
) => (...args: A) => Promise<R>;

export function wrapDependencyCalls(deps: SignOnPushDeps, wrap: CallWrapper): SignOnPushDeps {
  const r = deps.registry;
  const registry: Registry = {
    resolve: wrap('registry.resolve', (...a: Parameters<Registry['resolve']>) => r.resolve(...a)),
    getManifest: wrap('registry.getManifest', (...a: Parameters<Registry['getManifest']>) =>
      r.getManifest(...a),
    ),
    deleteManifest: wrap('registry.deleteManifest', (...a: Parameters<Registry['deleteManifest']>) =>
      r.deleteManifest(...a),
    ),
    hasBlob: wrap('registry.hasBlob', (...a: Parameters<Registry['hasBlob']>) => r.hasBlob(...a)),
    getBlob: wrap('registry.getBlob', (...a: Parameters<Registry['getBlob']>) => r.getBlob(...a)),
    listTags: wrap('registry.listTags', (...a: Parameters<Registry['listTags']>) => r.listTags(...a)),
    catalog: wrap('registry.catalog', (...a: Parameters<Registry['catalog']>) => r.catalog(...a)),
    referrers: wrap('registry.referrers', (...a: Parameters<Registry['referrers']>) => r.referrers(...a)),
    putBlob: wrap('registry.putBlob', (...a: Parameters<Registry['putBlob']>) => r.putBlob(...a)),
    putManifest: wrap('registry.putManifest', (...a: Parameters<Registry['putManifest']>) =>
      r.putManifest(...a),
    ),
  };
  const s = deps.store;
  const store: SigningStore = {
    claim: wrap('store.claim', (...a: Parameters<SigningStore['claim']>) => s.claim(...a)),
    progress: wrap('store.progress', (...a: Parameters<SigningStore['progress']>) => s.progress(...a)),
    get: wrap('store.get', (...a: Parameters<SigningStore['get']>) => s.get(...a)),
  };
  const signerFor = (keyVersion: string): KeyedSigner => {
    const inner = deps.signerFor(keyVersion);
    return {
      sign: wrap('kms.sign', (data: Buffer) => inner.sign(data)),
      signatureKey: wrap('kms.publicKey', () => inner.signatureKey()),
    };
  };
  const d = deps.deletions;
  const deletions: DeletionStore | undefined = d && {
    record: wrap('deletions.record', (...a: Parameters<DeletionStore['record']>) => d.record(...a)),
    find: wrap('deletions.find', (...a: Parameters<DeletionStore['find']>) => d.find(...a)),
  };
  const w = deps.witness;
  const witness: Witness | undefined = w && {
    testify: wrap('log.testify', (...a: Parameters<Witness['testify']>) => w.testify(...a)),
  };
  return { ...deps, registry, store, signerFor, witness, ...(deletions ? { deletions } : {}) };
}

/**
 * How long one signing waits on its dependencies: the wall time during which at least one of its
 * calls is in flight, so calls that overlap count once. The rest of the signing's wall time is the
 * function's own latency, which issue 9 bounds at 20 % of the round trips.
 */
export class DependencyClock {
  #inFlight = 0;
  #busySince = 0;
  #waitedMs = 0;
  #calls = 0;
  readonly #started = performance.now();

  begin(): void {
    if (this.#inFlight++ === 0) this.#busySince = performance.now();
    this.#calls++;
  }

  end(): void {
    if (--this.#inFlight === 0) this.#waitedMs += performance.now() - this.#busySince;
  }

  report(): { totalMs: number; dependencyMs: number; ownMs: number; calls: number } {
    const totalMs = performance.now() - this.#started;
    const round = (ms: number) => Math.round(ms * 10) / 10;
    return {
      totalMs: round(totalMs),
      dependencyMs: round(this.#waitedMs),
      ownMs: round(totalMs - this.#waitedMs),
      calls: this.#calls,
    };
  }
}

// One instance signs several images at once over shared clients: each signing's clock travels
// with its async context.
const clocks = new AsyncLocalStorage<DependencyClock>();

export function withDependencyClock<T>(clock: DependencyClock, run: () => Promise<T>): Promise<T> {
  return clocks.run(clock, run);
}

export const timedCall: CallWrapper =
  (_name, call) =>
  async (...args) => {
    const clock = clocks.getStore();
    if (clock === undefined) return call(...args);
    clock.begin();
    try {
      return await call(...args);
    } finally {
      clock.end();
    }
  };

/**
 * A subject lock whose taking and giving back are timed as dependency calls (two per use): a
 * cross-instance lease is Firestore round trips, and any wait for another instance's lease, not
 * the function's own latency. The work done while holding it is timed as it is anywhere else.
 */
export function timedLock(lock: SubjectLock): SubjectLock {
  return {
    lock<T>(subject: string, fn: (hold: LockHold) => Promise<T>): Promise<T> {
      const clock = clocks.getStore();
      if (clock === undefined) return lock.lock(subject, fn);
      clock.begin(); // taking it
      let holding: Promise<T>;
      try {
        holding = lock.lock(subject, async (hold) => {
          clock.end();
          try {
            return await fn(hold);
          } finally {
            clock.begin(); // giving it back
          }
        });
      } catch (err) {
        clock.end(); // a lock that throws at once, rather than rejecting
        throw err;
      }
      return holding.finally(() => clock.end());
    },
  };
}
