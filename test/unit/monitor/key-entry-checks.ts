/**
 * Test helper for entries that carry keys in other encodings (foreign-key-entries, pgp-key-entries):
 * owned identities from a key, how many of an entry's extracted keys match them, an entry that must
 * read as unreadable, and a whole monitor run over a few entry bodies.
 */
import assert from 'node:assert/strict';
import type { KeyObject } from 'node:crypto';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { runMonitor } from '../../../functions/monitor-log/core.ts';
import { extractVerifiers } from '../../../functions/monitor-log/entry-verifiers.ts';
import { type ResolvedIdentity, resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import type { MonitoredLog } from '../../../functions/monitor-log/log-source.ts';
import { IdentityMatcher } from '../../../functions/monitor-log/matcher.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { parseCheckpointBody } from '../../../functions/tlog/checkpoint/checkpoint.ts';

export const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');
export const pemOf = (key: KeyObject): string => key.export({ type: 'spki', format: 'pem' }) as string;

/** A rekord 0.0.1 entry body whose signature (`format`) and public key are the given bytes. */
export const rekordBody = (format: string, signature: string | Buffer, key: string | Buffer): Buffer =>
  Buffer.from(
    JSON.stringify({
      apiVersion: '0.0.1',
      kind: 'rekord',
      spec: {
        data: { hash: { algorithm: 'sha256', value: '00'.repeat(32) } },
        signature: { format, content: b64(signature), publicKey: { content: b64(key) } },
      },
    }),
  );

export const owned = (key: KeyObject | string): Promise<ResolvedIdentity[]> =>
  resolveIdentities([{ type: 'publicKey', pem: typeof key === 'string' ? key : pemOf(key) }], () =>
    Promise.reject(new Error('no KMS')),
  );

/** How many matches the entry's keys give; the entry must be readable and carry a key. */
export function matches(body: Buffer, identities: ResolvedIdentity[]): number {
  const extracted = extractVerifiers(body);
  assert.ok(extracted.ok, JSON.stringify(extracted));
  assert.ok(extracted.verifiers.length > 0, 'the key must be extracted');
  const matcher = new IdentityMatcher(identities);
  return extracted.verifiers.flatMap((v) => matcher.match(v)).length;
}

export function unreadable(body: Buffer, reason: RegExp): void {
  const extracted = extractVerifiers(body);
  assert.equal(extracted.ok, false, JSON.stringify(extracted));
  if (!extracted.ok) assert.match(extracted.message, reason);
}

/**
 * A log that serves `bodies` as its entries, under a checkpoint that is not checked: for entries the
 * Rekor emulator would refuse to log (malformed, or in formats it does not accept).
 */
export function logServing(bodies: Buffer[]): MonitoredLog {
  const head = {
    ...parseCheckpointBody(`test\n${bodies.length}\n${Buffer.alloc(32).toString('base64')}\n`),
    note: 'n',
  };
  return {
    url: 'http://log.test',
    getCheckpoint: async () => head,
    verifyConsistency: async () => {},
    readEntries: async (start, end) =>
      bodies.slice(start, end).map((body, i) => ({ logIndex: start + i, body })),
  };
}

/** The alerts of one monitor run over a log holding `bodies`, with `identities` owned. */
export async function monitorAlerts(
  bodies: Buffer[],
  identities: ResolvedIdentity[],
): Promise<MemoryAlertSink> {
  const alerts = new MemoryAlertSink();
  await runMonitor({
    logs: [{ name: 'test', log: logServing(bodies), startIndex: 0 }],
    store: new MemoryMonitorStore(),
    alerts,
    records: new StaticSigningRecordLookup(),
    identities,
    logger: createMemoryLogger(),
  });
  return alerts;
}
