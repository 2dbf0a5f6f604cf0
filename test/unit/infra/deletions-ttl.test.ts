/**
 * signOnPush records each DELETE of a watched repository in `deletions` (functions/state/
 * deletion-records.ts), a document per reference deleted: the TTL policy on its `expireAt` keeps
 * the collection bounded.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DELETIONS } from '../../../functions/state/deletion-records.ts';
import { checkFirestoreDatabaseScoped, checkTtlPolicy } from './checks.ts';
import { loadTerraform } from './terraform.ts';

describe('infra: the deletions signOnPush records', () => {
  it('expire by a TTL policy on deletions.expireAt, in the installation database', async () => {
    const infra = await loadTerraform();
    assert.deepEqual(checkTtlPolicy(infra, DELETIONS, 'expireAt'), []);
    assert.deepEqual(checkFirestoreDatabaseScoped(infra), []);
  });
});
