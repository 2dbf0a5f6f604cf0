import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { signingEntries } from '../../../functions/cli/commands/status.ts';
import {
  coverageFrom,
  logEntryOf,
  repositoryOf,
  type SigningRow,
  signingSummary,
  type VerdictRow,
} from '../../../functions/dashboard/data.ts';
import { renderDashboard } from '../../../functions/dashboard/render.ts';
import type { SigningRecord } from '../../../functions/state/signing-records.ts';
import { emptyView } from './fixtures.ts';

const R = '127.0.0.1:5000/team/app';
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const T0 = Date.parse('2025-05-01T10:00:00Z');

const verdict = (tag: string, status: VerdictRow['status'], digest = D1, checkedAt = T0): VerdictRow => ({
  ref: `${R}:${tag}`,
  source: 'owned',
  digest,
  status,
  reasons: status === 'valid' ? [] : [`${status} because`],
  checkedAt: new Date(checkedAt).toISOString(),
});
const record = (digest: string, state: SigningRow['state'], tags: string[], updatedAt = T0): SigningRow => ({
  image: `${R}@${digest}`,
  digest,
  state,
  tags: tags.map((t) => `${R}:${t}`),
  updatedAt,
});

describe('dashboard data: repository names', () => {
  it('strips the tag or the digest, not a registry port', () => {
    assert.equal(repositoryOf(`${R}:v1`), R);
    assert.equal(repositoryOf(`${R}@${D1}`), R);
    assert.equal(repositoryOf(R), R);
    assert.equal(repositoryOf('127.0.0.1:5000/app'), '127.0.0.1:5000/app');
  });
});

describe('dashboard data: coverage per repository', () => {
  it('counts verdicts: valid is signed, unsigned is unsigned, invalid / missing / key-disabled are failing', () => {
    const [repo, ...rest] = coverageFrom(
      [
        verdict('a', 'valid'),
        verdict('b', 'unsigned'),
        verdict('c', 'invalid'),
        verdict('d', 'missing'),
        verdict('e', 'key-disabled'),
      ],
      [],
    );
    assert.equal(rest.length, 0);
    assert.deepEqual(
      { signed: repo!.signed, unsigned: repo!.unsigned, failing: repo!.failing, signing: repo!.signing },
      { signed: 1, unsigned: 1, failing: 3, signing: 0 },
    );
    assert.deepEqual(
      repo!.problems.map((p) => [p.ref.slice(R.length + 1), p.status]),
      [
        ['c', 'failing'],
        ['d', 'failing'],
        ['e', 'failing'],
        ['b', 'unsigned'],
      ],
      'worst first, the signed tag not listed',
    );
    assert.equal(repo!.lastVerifiedAt, '2025-05-01T10:00:00.000Z');
  });

  it('takes tags no pass has verified yet from the signing records', () => {
    const [repo] = coverageFrom(
      [],
      [
        record(D1, 'attached', ['v1', 'latest']),
        record(D2, 'claimed', ['v2']),
        record(`sha256:${'3'.repeat(64)}`, 'failed', ['v3']),
      ],
    );
    assert.deepEqual([repo!.signed, repo!.signing, repo!.failing, repo!.unsigned], [2, 1, 1, 0]);
    assert.equal(repo!.signedDigests, 1);
    assert.equal(repo!.lastVerifiedAt, undefined);
    assert.deepEqual(
      repo!.problems.map((p) => [p.source, p.detail]),
      [
        ['signing-record', 'failed'],
        ['signing-record', 'claimed'],
      ],
    );
  });

  it('a verdict wins over the signing record of its digest; a newer push under the tag wins over the verdict', () => {
    const [repo] = coverageFrom(
      [verdict('v1', 'invalid', D1, T0), verdict('v2', 'unsigned', D1, T0)],
      [record(D1, 'attached', ['v1', 'v2'], T0 - 1000), record(D2, 'claimed', ['v2'], T0 + 1000)],
    );
    const byTag = Object.fromEntries(repo!.problems.map((p) => [p.ref.slice(R.length + 1), p]));
    assert.equal(byTag.v1!.status, 'failing', 'the later verdict on the same digest stands');
    assert.equal(byTag.v1!.source, 'verdict');
    assert.equal(byTag.v2!.status, 'signing', 'v2 was moved to D2 after the pass');
    assert.equal(byTag.v2!.digest, D2);
  });

  it('one digest signed under two keys counts as signed if either is attached', () => {
    const [repo] = coverageFrom([], [record(D1, 'failed', ['v1']), record(D1, 'attached', ['v1'])]);
    assert.deepEqual([repo!.signed, repo!.failing], [1, 0]);
  });

  it('lists repositories with problems first, then by name; untagged signed digests make a repository appear', () => {
    const other = '127.0.0.1:5000/aaa/ok';
    const names = coverageFrom(
      [verdict('x', 'unsigned')],
      [{ image: `${other}@${D2}`, digest: D2, state: 'attached', tags: [], updatedAt: T0 }],
    ).map((r) => [r.repository, r.signedDigests]);
    assert.deepEqual(names, [
      [R, 0],
      [other, 1],
    ]);
  });

  it('caps the problems listed per repository', () => {
    const many = Array.from({ length: 30 }, (_, i) => verdict(`t${i}`, 'unsigned'));
    const [repo] = coverageFrom(many, [], 5);
    assert.equal(repo!.unsigned, 30);
    assert.equal(repo!.problems.length, 5);
  });
});

describe('dashboard data: signings and their log entries', () => {
  it('reads the log index of each stored bundle (int64 as a string in protobuf JSON)', () => {
    const bundle = {
      verificationMaterial: {
        tlogEntries: [
          { logIndex: '42', integratedTime: '1746093600', kindVersion: { kind: 'dsse', version: '0.0.1' } },
        ],
      },
    };
    assert.deepEqual(logEntryOf('bundle', bundle), {
      format: 'bundle',
      logIndex: 42,
      kind: 'dsse',
      integratedTime: '2025-05-01T10:00:00.000Z',
    });
    assert.deepEqual(logEntryOf('cosign', undefined), { format: 'cosign' });
    assert.deepEqual(
      logEntryOf('cosign', {
        verificationMaterial: { tlogEntries: [{ kindVersion: { kind: 'hashedrekord' } }] },
      }),
      { format: 'cosign', logIndex: 0, kind: 'hashedrekord' },
      'protobuf JSON omits a zero: the first entry of a log',
    );
    assert.deepEqual(logEntryOf('bundle', { verificationMaterial: { tlogEntries: [] } }), {
      format: 'bundle',
    });
    assert.deepEqual(logEntryOf('x', { verificationMaterial: { tlogEntries: [{ logIndex: 'nope' }] } }), {
      format: 'x',
    });
  });

  it('summarises a record: formats in order, times as ISO, the last error message', () => {
    const rec: SigningRecord = {
      schemaVersion: 1,
      image: `${R}@${D1}`,
      digest: D1,
      keyVersion: 'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1',
      state: 'failed',
      attempts: 5,
      lease: null,
      formats: {
        cosign: { bundle: { verificationMaterial: { tlogEntries: [{ logIndex: '7' }] } } },
        bundle: { signature: 'c2ln' },
      },
      tags: [`${R}:v1`],
      createdAt: T0,
      updatedAt: T0,
      lastError: { code: 'DEPENDENCY', message: 'kms unavailable' },
    };
    const s = signingSummary(rec);
    assert.equal(s.repository, R);
    assert.deepEqual(s.entries, [{ format: 'bundle' }, { format: 'cosign', logIndex: 7 }]);
    assert.equal(s.updatedAt, '2025-05-01T10:00:00.000Z');
    assert.equal(s.lastError, 'kms unavailable');
  });
});

describe('dashboard data: an image attached in some formats and given up on in another', () => {
  const rec = (over: Partial<SigningRecord>): SigningRecord => ({
    schemaVersion: 1,
    image: `${R}@${D1}`,
    digest: D1,
    keyVersion: 'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1',
    state: 'attached',
    attempts: 10,
    lease: null,
    formats: { cosign: { signature: 'c2ln', attached: true }, bundle: { signature: 'YnVu' } },
    tags: [`${R}:v1`],
    createdAt: T0,
    updatedAt: T0,
    lastError: { message: 'the log answered 503' },
    ...over,
  });

  it('reads it as attached (signed), with the format it was given up on failing', () => {
    const given = rec({ failedFormats: ['bundle'] });
    const s = signingSummary(given);
    assert.equal(s.state, 'attached');
    assert.deepEqual(s.failedFormats, ['bundle']);
    assert.equal(s.addingFormats, undefined);
    const [repo] = coverageFrom([], [given]);
    assert.deepEqual([repo!.signed, repo!.failing, repo!.signing, repo!.signedDigests], [1, 0, 0, 1]);
    assert.equal(signingEntries(s), 'bundle failed, cosign #?');
    const page = renderDashboard({ ...emptyView(), recentSignings: [s] });
    assert.match(page, /b-attached/);
    assert.match(page, /gave up: bundle/);
  });

  it('says which format is being added while it is', () => {
    const s = signingSummary(rec({ adding: ['bundle'], attempts: 2 }));
    assert.equal(s.state, 'attached');
    assert.deepEqual(s.addingFormats, ['bundle']);
    assert.equal(s.failedFormats, undefined);
    assert.equal(signingEntries(s), 'bundle adding, cosign #?');
  });

  it('reads a record written failed while attached in a format (before failed meant attached in none) as attached', () => {
    const legacy = rec({ state: 'failed' });
    assert.equal(signingSummary(legacy).state, 'attached');
    assert.deepEqual(signingSummary(legacy).failedFormats, ['bundle']);
    const [repo] = coverageFrom([], [legacy]);
    assert.deepEqual([repo!.signed, repo!.failing, repo!.signedDigests], [1, 0, 1]);
    // Attached in no format: still failed.
    const never = rec({ state: 'failed', formats: { bundle: { signature: 'YnVu' } } });
    assert.equal(signingSummary(never).state, 'failed');
    assert.equal(signingSummary(never).failedFormats, undefined);
    assert.deepEqual(
      coverageFrom([], [never]).map((r) => r.failing),
      [1],
    );
  });
});
