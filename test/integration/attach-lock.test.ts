/**
 * The attach lock shared by function instances (FirestoreSubjectLock) on the Firestore emulator:
 * two lock objects, as two instances have, never hold one subject at once; an expired lease is
 * taken over; an owner whose lease was taken over does not release the new owner's; a lease that
 * stands past the wait bound gives a retryable error. Then the race it exists for, end to end on a
 * real docker-registry: two instances attaching different signatures (and referrers) to one image
 * both keep them, where two in-process locks lose one.
 */
import assert from 'node:assert/strict';
import crypto, { generateKeyPairSync, sign } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  attachCosignSignature,
  type CosignSignature,
  readCosignSignatures,
} from '../../functions/attach/cosign-layout.ts';
import {
  ATTACH_LOCKS,
  FirestoreSubjectLock,
  type SubjectLease,
  subjectLockId,
} from '../../functions/attach/firestore-subject-lock.ts';
import { InProcessSubjectLock, NestedSubjectLock, type SubjectLock } from '../../functions/attach/lock.ts';
import { attachBundleReferrer, listBundleReferrers } from '../../functions/attach/referrer.ts';
import { buildSimpleSigningPayload } from '../../functions/attach/simple-signing.ts';
import { isRetryable, SigsentryError } from '../../functions/errors.ts';
import { RegistryClient } from '../../functions/registry/client.ts';
import type { DigestReference } from '../../functions/registry/reference.ts';
import type { Registry } from '../../functions/registry/registry.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { sleep, stackFirestore } from '../helpers/stack.ts';
import { unsignedBundleFor as bundleFor } from '../helpers/unsigned-bundle.ts';

/**
 * Time elapsed on both clocks. The lock counts on the wall clock (a lease's `until` is shared with
 * other instances); a step of the wall clock moves only that one (seen once in a clean-clone run: a
 * test that took 446 ms by the monotonic clock had waited 2,019 by Date.now()). So a bound that the
 * wait must reach holds on the longer of the two, and one it must not pass on the shorter.
 */
function stopwatch(): () => { atLeast: number; atMost: number } {
  const wall = Date.now();
  const monotonic = performance.now();
  return () => {
    const a = Date.now() - wall;
    const b = performance.now() - monotonic;
    return { atLeast: Math.max(a, b), atMost: Math.min(a, b) };
  };
}

const fast = { backoffMs: { min: 5, max: 50 } };

describe('FirestoreSubjectLock on the emulator', () => {
  const firestore = stackFirestore();

  const freshSubject = () => `127.0.0.1:5000/attach-lock/${crypto.randomUUID()}@sha256:${'a'.repeat(64)}`;
  const leaseDoc = (subject: string) => firestore.db.collection(ATTACH_LOCKS).doc(subjectLockId(subject));
  const leaseOf = async (subject: string) =>
    (await leaseDoc(subject).get()).data() as SubjectLease | undefined;

  /** Runs `perLock` concurrent holders on each lock; returns the most that were inside at once. */
  async function maxOverlap(locks: SubjectLock[], subject: string, perLock: number) {
    let inside = 0;
    let most = 0;
    let runs = 0;
    await Promise.all(
      locks.flatMap((lock) =>
        Array.from({ length: perLock }, () =>
          lock.lock(subject, async () => {
            inside++;
            most = Math.max(most, inside);
            // Long enough for a contender's round trips to the emulator to end inside it.
            await sleep(40 + Math.random() * 60);
            inside--;
            runs++;
          }),
        ),
      ),
    );
    return { most, runs };
  }

  test('two instances never hold one subject at once', async () => {
    const subject = freshSubject();
    const locks = [
      new FirestoreSubjectLock(firestore.db, fast),
      new FirestoreSubjectLock(firestore.db, fast),
    ];
    const { most, runs } = await maxOverlap(locks, subject, 6);
    assert.equal(runs, 12);
    assert.equal(most, 1, 'two holders were inside the lock at once');
    assert.equal((await leaseDoc(subject).get()).exists, false, 'the last holder released it');

    // As wired in production: the in-process lock around the Firestore lease.
    const nested = [0, 1].map(
      () => new NestedSubjectLock(new InProcessSubjectLock(), new FirestoreSubjectLock(firestore.db, fast)),
    );
    assert.deepEqual(await maxOverlap(nested, freshSubject(), 6), { most: 1, runs: 12 });

    // The control: the overlap counter does see two in-process locks (two instances) overlap.
    const inProcess = [new InProcessSubjectLock(), new InProcessSubjectLock()];
    assert.ok((await maxOverlap(inProcess, freshSubject(), 6)).most > 1);
  });

  test('an expired lease is taken over; an unexpired one is waited for', async () => {
    const subject = freshSubject();
    const now = Date.now();
    await leaseDoc(subject).create({ subject, owner: 'crashed#1', until: now - 1, acquiredAt: now - 30_001 });
    const lock = new FirestoreSubjectLock(firestore.db, fast);
    let owner: string | undefined;
    const elapsed = stopwatch();
    await lock.lock(subject, async () => {
      owner = (await leaseOf(subject))?.owner;
    });
    assert.ok(elapsed().atMost < 1_000, 'an expired lease does not make anyone wait');
    assert.ok(owner !== undefined && owner !== 'crashed#1', `the lease was taken over (owner ${owner})`);
    assert.equal((await leaseDoc(subject).get()).exists, false);

    // A lease of a stalled owner that runs out while we wait.
    const until = Date.now() + 800;
    await leaseDoc(subject).create({ subject, owner: 'stalled#1', until, acquiredAt: until - 30_000 });
    await lock.lock(subject, async () => {
      assert.ok(Date.now() >= until, 'entered before the other lease expired');
      assert.notEqual((await leaseOf(subject))?.owner, 'stalled#1');
    });
  });

  test('an owner whose lease was taken over does not release the new owner’s', async () => {
    const subject = freshSubject();
    const a = new FirestoreSubjectLock(firestore.db, { ...fast, owner: 'a' });
    // B's clock is ahead by more than a lease: it sees A's lease as expired, as it would once A stalls.
    const b = new FirestoreSubjectLock(firestore.db, {
      ...fast,
      owner: 'b',
      now: () => Date.now() + 10 * 60_000,
    });
    let releaseA!: () => void;
    const aMayFinish = new Promise<void>((resolve) => {
      releaseA = resolve;
    });
    let aEntered!: () => void;
    const aInside = new Promise<void>((resolve) => {
      aEntered = resolve;
    });
    const aRun = a.lock(subject, async () => {
      aEntered();
      await aMayFinish;
    });
    await aInside;
    assert.match((await leaseOf(subject))?.owner ?? '', /^a#/);
    await b.lock(subject, async () => {
      assert.match((await leaseOf(subject))?.owner ?? '', /^b#/, 'B took the lease over');
      releaseA();
      await aRun; // A's release ran, with B inside
      assert.match((await leaseOf(subject))?.owner ?? '', /^b#/, 'A released B’s lease');
    });
    assert.equal((await leaseDoc(subject).get()).exists, false, 'B released its own lease');
  });

  test('a holder renews its lease while it works, but not past maxHoldMs', async () => {
    const subject = freshSubject();
    const stuck = new FirestoreSubjectLock(firestore.db, {
      ...fast,
      leaseMs: 300,
      renewMs: 100,
      maxHoldMs: 800,
    });
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => {
      entered = resolve;
    });
    // A holder stuck on a call that never returns.
    void stuck.lock(subject, async () => {
      entered();
      await new Promise(() => {});
    });
    await inside;
    const elapsed = stopwatch();
    let waited = { atLeast: 0, atMost: 0 };
    await new FirestoreSubjectLock(firestore.db, { ...fast, waitMs: 5_000 }).lock(subject, async () => {
      waited = elapsed();
    });
    assert.ok(
      waited.atLeast >= 700,
      `renewed past its 300 ms lease: the other entered after ${waited.atLeast} ms`,
    );
    assert.ok(
      waited.atMost < 2_500,
      `not renewed past maxHoldMs: the other entered after ${waited.atMost} ms`,
    );
  });

  test('a hold passes its check while renewed, and fails it once taken over or about to lapse unrenewed', async () => {
    const short = { ...fast, leaseMs: 300, renewMs: 100 };
    const isLapse = (pattern: RegExp) => (err: unknown) => {
      assert.ok(isRetryable(err), String(err));
      assert.match((err as Error).message, pattern);
      return true;
    };
    // Renewed: good past its first lease.
    await new FirestoreSubjectLock(firestore.db, short).lock(freshSubject(), async (hold) => {
      await sleep(500);
      hold.check();
    });
    // Renewals stop at maxHoldMs (the last near 200 ms): the check fails before the lease ends.
    await new FirestoreSubjectLock(firestore.db, { ...short, maxHoldMs: 250 }).lock(
      freshSubject(),
      async (hold) => {
        hold.check();
        await sleep(700);
        assert.throws(() => hold.check(), isLapse(/about to lapse: it was not renewed/));
      },
    );
    // Taken over by another instance (whose clock sees the lease expired): the next renewal finds
    // the other owner's lease.
    const subject = freshSubject();
    const other = new FirestoreSubjectLock(firestore.db, {
      ...fast,
      owner: 'b',
      now: () => Date.now() + 10 * 60_000,
    });
    await new FirestoreSubjectLock(firestore.db, { ...short, owner: 'a' }).lock(subject, async (hold) => {
      await other.lock(subject, async () => {
        await sleep(250);
        assert.throws(() => hold.check(), isLapse(/taken over by another instance while held/));
      });
    });
  });

  test('a hold fails its check from half a renewal period before its lease ends, also after a take-over', async () => {
    const subject = freshSubject();
    let clock = Date.now();
    const lock = new FirestoreSubjectLock(firestore.db, {
      ...fast,
      leaseMs: 30_000,
      renewMs: 10_000,
      now: () => clock,
    });
    await leaseDoc(subject).create({
      subject,
      owner: 'crashed#1',
      until: clock - 1,
      acquiredAt: clock - 30_001,
    });
    const takenAt = clock;
    await lock.lock(subject, async (hold) => {
      assert.equal((await leaseOf(subject))?.until, takenAt + 30_000);
      clock = takenAt + 30_000 - 5_001;
      hold.check();
      clock = takenAt + 30_000 - 5_000;
      assert.throws(() => hold.check(), /about to lapse/);
    });
  });

  test('a renewal whose precondition fails on a lease still ours (its own write committed, the answer lost) keeps the hold', async () => {
    const subject = freshSubject();
    // Wide enough that a slow emulator round trip does not eat the margin: unrenewed, the hold
    // would fail its check from 1,250 ms (half a renewal period before its lease ends).
    await new FirestoreSubjectLock(firestore.db, { ...fast, leaseMs: 1_500, renewMs: 500 }).lock(
      subject,
      async (hold) => {
        const lease = (await leaseOf(subject))!;
        // What a resent renewal finds: the document moved on since our last known write, still ours.
        await leaseDoc(subject).update({ until: lease.until + 1 });
        await sleep(1_300);
        hold.check();
        assert.equal((await leaseOf(subject))?.owner, lease.owner);
      },
    );
    assert.equal((await leaseDoc(subject).get()).exists, false, 'released: its write time was adopted');
  });

  test('a lease that stands past the wait bound gives a retryable error naming the subject', async () => {
    const subject = freshSubject();
    const until = Date.now() + 60_000;
    await leaseDoc(subject).create({ subject, owner: 'busy#1', until, acquiredAt: Date.now() });
    const lock = new FirestoreSubjectLock(firestore.db, { ...fast, waitMs: 300 });
    let ran = false;
    const elapsed = stopwatch();
    await assert.rejects(
      lock.lock(subject, async () => {
        ran = true;
      }),
      (err: unknown) => {
        assert.ok(err instanceof SigsentryError);
        assert.equal(err.code, 'DEPENDENCY_FAILED');
        assert.ok(isRetryable(err));
        assert.ok(err.message.includes(subject), err.message);
        return true;
      },
    );
    const waited = elapsed();
    assert.ok(waited.atLeast >= 300 && waited.atMost < 2_000, `waited ${JSON.stringify(waited)} ms`);
    assert.equal(ran, false);
    assert.equal((await leaseOf(subject))?.owner, 'busy#1', 'the other lease is untouched');
  });

  describe('two instances attaching to one image (docker-registry)', () => {
    let registry: TestRegistry;
    before(async () => {
      registry = await startRegistry();
    });
    after(() => registry.stop());

    /** A registry client whose writes of the `.sig` tag and the fallback index arrive late. */
    function slowTagWrites(client: RegistryClient): Registry {
      return new Proxy(client, {
        get(target, prop) {
          const value = Reflect.get(target, prop, target);
          if (prop === 'putManifest') {
            return async (...args: Parameters<Registry['putManifest']>) => {
              if (/^sha256-[0-9a-f]{64}(\.sig)?$/.test(args[1])) await sleep(400);
              return await target.putManifest(...args);
            };
          }
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    }

    function signed(image: DigestReference, key: string): CosignSignature {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const payload = buildSimpleSigningPayload(image, { key });
      return { payload, signature: sign('sha256', payload, privateKey).toString('base64') };
    }

    /** B starts first but its write lands late; A's whole attach fits inside B's. Is each one kept? */
    async function race(locks: [SubjectLock, SubjectLock]) {
      const direct = new RegistryClient({ allowedHosts: [registry.host] });
      const a = { registry: direct, lock: locks[0] };
      const b = {
        registry: slowTagWrites(new RegistryClient({ allowedHosts: [registry.host] })),
        lock: locks[1],
      };
      const repository = `attach-race/${crypto.randomBytes(5).toString('hex')}`;
      const pushed = await registry.pushImage(repository, 'v1');
      const image = { host: registry.host, repository, digest: pushed.digest };

      const [sigA, sigB] = [signed(image, 'A'), signed(image, 'B')];
      const pendingB = attachCosignSignature(b, image, sigB);
      await sleep(100);
      const [resultA, resultB] = [await attachCosignSignature(a, image, sigA), await pendingB];
      assert.equal(resultA.appended && resultB.appended, true, 'both report their signature attached');
      const stored = (await readCosignSignatures(direct, image)).map((s) => s.signature);

      const referrerB = attachBundleReferrer(b, image, bundleFor(image, 'B'));
      await sleep(100);
      const [refA, refB] = [await attachBundleReferrer(a, image, bundleFor(image, 'A')), await referrerB];
      assert.equal(refA.attached && refB.attached, true, 'both report their referrer attached');
      const listed = (await listBundleReferrers(direct, image)).descriptors.map((d) => d.digest);
      return {
        signatures: [stored.includes(sigA.signature), stored.includes(sigB.signature)],
        referrers: [listed.includes(refA.manifest.digest), listed.includes(refB.manifest.digest)],
      };
    }

    test('with the Firestore lease both signatures and both referrers are kept', async () => {
      const instance = () =>
        new NestedSubjectLock(new InProcessSubjectLock(), new FirestoreSubjectLock(firestore.db, fast));
      assert.deepEqual(await race([instance(), instance()]), {
        signatures: [true, true],
        referrers: [true, true],
      });
    });

    test('the control: with two in-process locks one of each is lost', async () => {
      assert.deepEqual(await race([new InProcessSubjectLock(), new InProcessSubjectLock()]), {
        signatures: [false, true],
        referrers: [false, true],
      });
    });

    test('many images, three instances each, no delay: nothing reported attached is lost', async () => {
      const instances = [0, 1, 2].map(() => ({
        registry: new RegistryClient({ allowedHosts: [registry.host] }),
        lock: new NestedSubjectLock(new InProcessSubjectLock(), new FirestoreSubjectLock(firestore.db, fast)),
      }));
      const reader = instances[0]!.registry;
      const lost = await Promise.all(
        Array.from({ length: 12 }, async (_, i) => {
          const repository = `attach-many/${crypto.randomBytes(4).toString('hex')}-${i}`;
          const image = {
            host: registry.host,
            repository,
            digest: (await registry.pushImage(repository, 'v1')).digest,
          };
          const sigs = instances.map((_, k) => signed(image, `k${k}`));
          await Promise.all(instances.map((deps, k) => attachCosignSignature(deps, image, sigs[k]!)));
          const refs = await Promise.all(
            instances.map((deps, k) => attachBundleReferrer(deps, image, bundleFor(image, `k${k}`))),
          );
          const stored = (await readCosignSignatures(reader, image)).map((s) => s.signature);
          const listed = (await listBundleReferrers(reader, image)).descriptors.map((d) => d.digest);
          return (
            sigs.filter((s) => !stored.includes(s.signature)).length +
            refs.filter((r) => !listed.includes(r.manifest.digest)).length
          );
        }),
      );
      assert.equal(
        lost.reduce((x, y) => x + y, 0),
        0,
      );
    });
  });
});
