/**
 * The in-memory tag store's claim checks (store.ts): `renewDelivery` and `finishDelivery` write only
 * over a stored record that still carries the pass's own claim, and answer false, writing nothing,
 * otherwise. The Firestore store makes the same check in a transaction (integration tests).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryTagStore, TAG_SCHEMA_VERSION, type TagRecord } from '../../../functions/reverify/store.ts';

const REF = 'registry.example/team/app:v1';

function record(delivery?: TagRecord['delivery']): TagRecord {
  return {
    schemaVersion: TAG_SCHEMA_VERSION,
    ref: REF,
    source: 'owned',
    policy: 'policy',
    digest: `sha256:${'a'.repeat(64)}`,
    status: 'unsigned',
    reasons: ['no signature in either layout'],
    findings: [],
    fingerprint: { signatureManifest: null, referrers: null },
    verifiedLayouts: [],
    checkedAt: '2026-01-01T00:00:00.000Z',
    changedAt: '2026-01-01T00:00:00.000Z',
    history: [],
    ...(delivery === undefined ? {} : { delivery }),
  };
}

const claim = (id: string) => ({ id, until: '2026-01-01T00:01:00.000Z', previous: null });

/** A store holding `stored`, as a pass that loaded it sees it. */
async function holding(stored: TagRecord): Promise<MemoryTagStore> {
  const store = new MemoryTagStore();
  assert.equal(await store.put(stored, undefined), 'stored');
  return store;
}

describe('the in-memory tag store’s delivery claim', () => {
  it('renews its own claim, moving only `until`', async () => {
    const mine = record(claim('mine'));
    const store = await holding(mine);
    assert.equal(await store.renewDelivery(mine, '2026-01-01T00:02:00.000Z'), true);
    assert.deepEqual(store.records.get(REF), {
      ...mine,
      delivery: { ...claim('mine'), until: '2026-01-01T00:02:00.000Z' },
    });
  });

  it('finishes its own claim, leaving no `delivery` field', async () => {
    const mine = record(claim('mine'));
    const store = await holding(mine);
    assert.equal(await store.finishDelivery(mine), true);
    const stored = store.records.get(REF)!;
    assert.equal('delivery' in stored, false);
    assert.deepEqual(stored, record());
  });

  it('writes nothing for another pass’s claim, no claim, or no record', async () => {
    const cases: Array<[string, TagRecord, TagRecord | undefined]> = [
      ['another pass’s claim', record(claim('mine')), record(claim('theirs'))],
      ['a stored record without a claim', record(claim('mine')), record()],
      ['a pass without a claim', record(), record(claim('theirs'))],
      ['no stored record', record(claim('mine')), undefined],
    ];
    for (const [name, mine, stored] of cases) {
      const store = stored === undefined ? new MemoryTagStore() : await holding(stored);
      const before = store.records;
      assert.equal(await store.renewDelivery(mine, '2026-01-01T00:02:00.000Z'), false, name);
      assert.equal(await store.finishDelivery(mine), false, name);
      assert.deepEqual(store.records, before, name);
    }
  });

  it('counts a claimed write as a write: a verdict judged against the record before it is superseded', async () => {
    const mine = record(claim('mine'));
    const store = await holding(mine);
    const loaded = (await store.load([REF])).get(REF)!;
    assert.equal(await store.renewDelivery(mine, '2026-01-01T00:02:00.000Z'), true);
    assert.equal(await store.put(record(), loaded), 'superseded');
    const reloaded = (await store.load([REF])).get(REF)!;
    assert.equal(await store.finishDelivery(mine), true);
    assert.equal(await store.put(record(), reloaded), 'superseded');
  });
});
