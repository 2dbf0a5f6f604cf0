/**
 * What reverifyImages keeps failing on, on the local stack: the subjects' start times kept in the
 * Firestore emulator (`reverify-unverified`), and the `verification-stale` alert recorded in its
 * `alerts` collection and resolved there.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { FirestoreAlertStore } from '../../../functions/alerts/firestore-sink.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { createReverifyFromConfig } from '../../../functions/reverify/from-env.ts';
import { staleAlertKey } from '../../../functions/reverify/staleness.ts';
import {
  FirestoreUnverifiedStore,
  subjectIdentity,
  UNVERIFIED_COLLECTION,
  type UnverifiedSubject,
} from '../../../functions/reverify/unverified.ts';
import { makeOciImage } from '../../helpers/oci-layout.ts';
import { skopeoCopy } from '../../helpers/skopeo.ts';
import { freshRepository, sleep, stackFirestore, testStack } from '../../helpers/stack.ts';

describe('verification-stale on the local stack', () => {
  const firestore = stackFirestore();
  const mine = (prefix: string, subjects: UnverifiedSubject[]) =>
    subjects.filter((s) => s.subject.startsWith(prefix)).sort((a, b) => a.subject.localeCompare(b.subject));

  it('FirestoreUnverifiedStore keeps, lists and forgets subjects, over more than one write batch', async () => {
    const store = new FirestoreUnverifiedStore(firestore.db);
    const prefix = `127.0.0.1:5000/unverified-${crypto.randomUUID()}`;
    const since = new Date().toISOString();
    const subjects: UnverifiedSubject[] = Array.from({ length: 620 }, (_, i) => ({
      subject: `${prefix}/app:t${String(i).padStart(3, '0')}`,
      kind: 'tag',
      since,
    }));
    await store.add(subjects);
    assert.deepEqual(mine(prefix, await store.list()), subjects);
    await store.remove(subjects.slice(0, 600));
    assert.deepEqual(mine(prefix, await store.list()), subjects.slice(600));
  });

  it('a document of another shape is not a subject, and is written over when its subject fails', async () => {
    const store = new FirestoreUnverifiedStore(firestore.db);
    const subject = `127.0.0.1:5000/unverified-${crypto.randomUUID()}`;
    const id = crypto
      .createHash('sha256')
      .update(subjectIdentity({ subject, kind: 'listing', scope: 'all' }))
      .digest('hex');
    await firestore.db.collection(UNVERIFIED_COLLECTION).doc(id).set({ subject, since: 'yesterday' });
    assert.deepEqual(mine(subject, await store.list()), []);
    const since = new Date().toISOString();
    await store.add([{ subject, kind: 'listing', since, scope: 'all' }]);
    assert.deepEqual(mine(subject, await store.list()), [{ subject, kind: 'listing', since, scope: 'all' }]);
  });

  it('a listing kept before listings were kept per shard (no scope) is listed and forgotten', async () => {
    const store = new FirestoreUnverifiedStore(firestore.db);
    const subject = `127.0.0.1:5000/unverified-${crypto.randomUUID()}`;
    const legacy = { subject, kind: 'listing' as const, since: new Date().toISOString() };
    const id = crypto.createHash('sha256').update(subject).digest('hex');
    await firestore.db
      .collection(UNVERIFIED_COLLECTION)
      .doc(id)
      .set({ schemaVersion: 1, ...legacy });
    assert.deepEqual(mine(subject, await store.list()), [legacy]);
    await store.remove([legacy]);
    assert.deepEqual(mine(subject, await store.list()), []);
  });

  it('an overlapping pass keeping a subject again leaves its first since', async () => {
    const store = new FirestoreUnverifiedStore(firestore.db);
    const subject = `127.0.0.1:5000/unverified-${crypto.randomUUID()}:v1`;
    const first = new Date(Date.now() - 3_600_000).toISOString();
    await store.add([{ subject, kind: 'tag', since: first }]);
    await store.add([{ subject, kind: 'tag', since: new Date().toISOString() }]);
    assert.deepEqual(mine(subject, await store.list()), [{ subject, kind: 'tag', since: first }]);
    await store.remove([{ subject, kind: 'tag', since: first }]);
    assert.deepEqual(mine(subject, await store.list()), []);
  });

  it('reverifyImages alerts on a watchlisted repository it cannot list, in Firestore, and resolves it once listed', async () => {
    const stack = testStack();
    const registry = stack.env.REGISTRY!;
    const repository = freshRepository('stale-watchlist');
    const subject = `${registry}/${repository}`;
    const alerts = new FirestoreAlertStore(firestore.db);
    const runtime = await createReverifyFromConfig(
      {
        project: stack.env.GCP_PROJECT!,
        watch: [],
        keys: [],
        publicKeys: [],
        log: {
          kind: 'rekor-v1',
          url: stack.env.REKOR_URL!,
          publicKey: fs.readFileSync(stack.env.REKOR_PUBLIC_KEY_FILE!, 'utf8'),
        },
        // Not pushed yet: its tag list answers 404, a listing failure of every pass.
        watchlist: [
          {
            image: subject,
            identity: 'https://github.com/vendor/base/.github/workflows/release.yml@refs/heads/main',
            identityRegexp: false,
            issuer: 'https://token.actions.githubusercontent.com',
            references: [],
          },
        ],
        concurrency: 4,
        staleAfterHours: 1 / 3600,
        redirectHosts: [],
        // No network: the embedded public-good root, as SIGSTORE_TUF_URL=none gives it.
        tuf: { mirror: 'none' },
      },
      { alerts, logger: createMemoryLogger(), firestore: firestore.db },
    );
    const key = staleAlertKey();
    const stored = async () => mine(subject, await new FirestoreUnverifiedStore(firestore.db).list());

    const first = await runtime.run();
    assert.deepEqual(
      first.errors.map((e) => e.ref),
      [subject],
    );
    assert.deepEqual(first.stale, [], 'failing for less than the limit');
    const [recorded] = await stored();
    assert.equal(recorded?.kind, 'listing');

    await sleep(1100);
    const second = await runtime.run();
    assert.deepEqual(
      second.stale.map((s) => [s.subject, s.since]),
      [[subject, recorded.since]],
    );
    const open = await alerts.get(key);
    assert.equal(open?.state, 'open');
    assert.equal(open?.kind, 'verification-stale');
    assert.match(open?.summary ?? '', new RegExp(`the oldest, ${subject.replaceAll('.', '\\.')}, since`));

    const image = makeOciImage({ tag: 'v1' });
    await skopeoCopy(image.source, `docker://${subject}:v1`);
    const third = await runtime.run();
    assert.deepEqual(third.errors, []);
    assert.deepEqual(third.stale, []);
    assert.deepEqual(await stored(), [], 'listed: forgotten');
    assert.equal((await alerts.get(key))?.state, 'resolved');
  });
});
