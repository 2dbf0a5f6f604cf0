/**
 * The monitor's alerts and their incident keys. A rogue signature or an unreadable entry is one
 * incident per log entry; a lying log is one incident per log, so it counts up run after run
 * until someone resolves it.
 */
import crypto from 'node:crypto';
import type { AlertInput } from '../alerts/alert.ts';
import type { VerifiedCheckpoint } from '../tlog/checkpoint/verify.ts';
import type { FrozenTree, ScannedEntry } from './log-source.ts';
import type { IdentityMatch } from './matcher.ts';

/**
 * An entry's alert key and the digest its evidence names, from one SHA-256 of its body. The key is
 * its log index and a 128-bit prefix of that hash: the index alone is not the entry's, since a log
 * that starts a new tree (Rekor v2, a re-created or replaced tree) numbers from 0 again, and a
 * second entry at an index would otherwise merge into the first one's incident as a repeat, its
 * channels hearing nothing.
 */
function entryNames(kind: string, log: { name: string }, entry: ScannedEntry) {
  const hex = crypto.hash('sha256', entry.body, 'hex');
  return { key: `${kind}:${log.name}:${entry.logIndex}:${hex.slice(0, 32)}`, bodyDigest: `sha256:${hex}` };
}

export function rogueSignatureAlert(
  log: { name: string; url: string },
  entry: ScannedEntry,
  match: IdentityMatch,
  details: { kind: string; artifactDigest?: string },
): AlertInput {
  const identity = match.identity;
  const { key, bodyDigest } = entryNames('rogue-signature', log, entry);
  return {
    kind: 'rogue-signature',
    severity: 'CRITICAL',
    subject: identity.description,
    key,
    summary:
      `log entry ${entry.logIndex} (${details.kind}) was signed by owned identity ${identity.description} ` +
      'and no sigsentry signing record explains it',
    evidence: {
      logUrl: log.url,
      logIndex: entry.logIndex,
      ...(entry.treeIndex !== undefined ? { treeIndex: entry.treeIndex } : {}),
      ...(entry.uuid ? { uuid: entry.uuid } : {}),
      entryBodyDigest: bodyDigest,
      identity: identity.description,
      ...(identity.type === 'key' && identity.keyVersion ? { keyVersion: identity.keyVersion } : {}),
      matched: match.matched,
      entryKind: details.kind,
      ...(details.artifactDigest ? { digest: details.artifactDigest } : {}),
      ...(entry.integratedTime !== undefined ? { integratedTime: entry.integratedTime } : {}),
    },
  };
}

export function unparseableEntryAlert(
  log: { name: string; url: string },
  entry: ScannedEntry,
  reason: string,
  kind: string | undefined,
): AlertInput {
  const { key, bodyDigest } = entryNames('entry-unparseable', log, entry);
  return {
    kind: 'entry-unparseable',
    severity: 'MEDIUM',
    subject: log.url,
    key,
    summary: `log entry ${entry.logIndex} could not be read, so it could not be checked against owned identities`,
    evidence: {
      logUrl: log.url,
      logIndex: entry.logIndex,
      ...(entry.treeIndex !== undefined ? { treeIndex: entry.treeIndex } : {}),
      ...(entry.uuid ? { uuid: entry.uuid } : {}),
      entryBodyDigest: bodyDigest,
      verifierOutput: reason,
      ...(kind ? { entryKind: kind } : {}),
    },
  };
}

export function logInconsistentAlert(
  log: { name: string; url: string },
  error: { message: string; details?: Record<string, unknown> },
  checkpoints: Array<VerifiedCheckpoint | undefined>,
): AlertInput {
  const logIndex = error.details?.['logIndex'];
  const treeIndex = error.details?.['treeIndex'];
  const uuid = error.details?.['uuid'];
  return {
    kind: 'log-inconsistent',
    severity: 'CRITICAL',
    subject: log.url,
    key: `log-inconsistent:${log.name}`,
    summary: `the transparency log failed a proof: ${error.message}`,
    evidence: {
      logUrl: log.url,
      checkpoints: checkpoints.filter((c) => c !== undefined).map((c) => c.note),
      verifierOutput: error.message,
      ...(typeof logIndex === 'number' ? { logIndex } : {}),
      ...(typeof treeIndex === 'number' ? { treeIndex } : {}),
      ...(typeof uuid === 'string' ? { uuid } : {}),
      reason: error.details?.['reason'],
    },
  };
}

export function checkpointInvalidAlert(
  log: { name: string; url: string },
  error: { message: string; details?: Record<string, unknown> },
  trusted: VerifiedCheckpoint | undefined,
): AlertInput {
  return {
    kind: 'checkpoint-invalid',
    severity: 'CRITICAL',
    subject: log.url,
    key: `checkpoint-invalid:${log.name}`,
    summary: `the transparency log served a checkpoint that does not verify: ${error.message}`,
    evidence: {
      logUrl: log.url,
      checkpoints: trusted ? [trusted.note] : [],
      verifierOutput: error.message,
      details: error.details,
    },
  };
}

/**
 * The log's checkpoints moved to another tree (origin). A shard rotation does this; so does a log
 * that rewrites its history under a new name, which no proof can tell apart: someone decides. One
 * incident per tree the log moved to.
 */
/** What a sharded log's info says of a rotation: the tree left, and frozen trees after it not scannable. */
export interface TreeRotation {
  /** The tree the monitor was scanning, as now listed frozen (with its final head when it verifies). */
  old: FrozenTree;
  /** Frozen trees between it and the one followed, whose heads do not verify: nothing in them is scanned. */
  passedOver: FrozenTree[];
}

/**
 * The size of the tree the monitor moves away from: as its frozen listing gives it (what it had
 * when it froze), but never below the checkpoint verified of it, since the listing is unsigned.
 */
export function leftTreeSize(previous: { treeSize: number }, rotation?: TreeRotation): number {
  return Math.max(rotation?.old.size ?? 0, previous.treeSize);
}

/**
 * How the old tree's tail can still be seen after a move the log did not announce: `listsFrozenTrees`
 * (a sharded Rekor v1, which lists its frozen trees) once the log lists it frozen with a final head
 * that verifies; otherwise only if the log returns to that tree.
 */
export interface TreeChangeOptions {
  listsFrozenTrees?: boolean;
}

export function logTreeChangedAlert(
  log: { name: string; url: string },
  previous: { origin: string; checkpoint: string; cursor: number; treeSize: number },
  head: VerifiedCheckpoint,
  earlier: { cursor: number } | undefined,
  rotation?: TreeRotation,
  options: TreeChangeOptions = {},
): AlertInput {
  const frozen = rotation?.old.checkpoint;
  const oldSize = leftTreeSize(previous, rotation);
  const unscanned = Math.max(0, oldSize - previous.cursor);
  const passedOver = rotation?.passedOver ?? [];
  const skipped =
    passedOver.length === 0
      ? ''
      : `; the frozen trees ${passedOver.map((t) => `"${t.origin ?? 'unnamed'}" (${t.size} entries: ${t.unverified ?? 'no verified head'})`).join(', ')} ` +
        'between them cannot be proven, and are not scanned until their heads verify';
  // Without a final head that verifies, the old tree's size is unknown: it may have grown past the
  // checkpoint last verified of it (and past its unsigned listing) before the log moved on.
  const until =
    (options.listsFrozenTrees ?? true)
      ? 'the tree is kept pending, and scanned to its final head once the log lists it frozen with one that verifies'
      : 'this log lists no frozen trees, so they are scanned only if the log returns to that tree';
  const unseen =
    `; what tree "${previous.origin}" holds past the ${previous.treeSize} entries verified of it may be unseen ` +
    `(nothing proves its final size): ${until}`;
  const summary =
    frozen !== undefined
      ? `the transparency log rotated its shard: tree "${previous.origin}" is frozen at ${frozen.size} entries, ` +
        `consistent with what was verified of it and scanned to its end; following "${head.origin}"${skipped}`
      : `the transparency log moved from tree "${previous.origin}" to ${earlier ? 'the earlier tree ' : ''}"${head.origin}"` +
        `${unscanned > 0 ? `, leaving ${unscanned} entries of the old tree unscanned` : ''}` +
        `${rotation?.old.unverified !== undefined ? ` (the log lists it frozen, but ${rotation.old.unverified})` : ''}${unseen}${skipped}`;
  return {
    kind: 'log-tree-changed',
    // A rotation the log announces (the old tree listed frozen, consistent, every entry scanned, no
    // tree passed over) loses nothing; only the new tree's start is unproven, as for any new log.
    severity: frozen !== undefined && passedOver.length === 0 ? 'MEDIUM' : 'HIGH',
    subject: log.url,
    key: `log-tree-changed:${log.name}:${head.origin}`,
    summary:
      frozen !== undefined && passedOver.length === 0
        ? `${summary} (nothing proves the new tree related to the old: a rotation the log operator did not announce is a log replacing its history)`
        : `${summary}; a shard rotation announced by the log operator explains a new tree, anything else is a log replacing its history`,
    evidence: {
      logUrl: log.url,
      checkpoints: [
        previous.checkpoint,
        ...(frozen !== undefined && frozen.note !== previous.checkpoint ? [frozen.note] : []),
        head.note,
      ],
      previousOrigin: previous.origin,
      origin: head.origin,
      previousTreeSize: oldSize,
      previousCursor: previous.cursor,
      previousTreeFrozen: frozen !== undefined,
      // Kept pending (core.ts): its size proven only up to what was verified of it.
      ...(frozen === undefined
        ? { previousTreePending: true, previousTreeVerifiedSize: previous.treeSize }
        : {}),
      ...(passedOver.length > 0
        ? {
            unscannedTrees: passedOver.map((t) => ({ origin: t.origin, size: t.size, reason: t.unverified })),
          }
        : {}),
      resumedAt: earlier?.cursor ?? 0,
    },
  };
}

/**
 * A tree the monitor finished, scanned to a final head that verified, listed again with a larger
 * head that extends it: frozen trees never grow, so the log appended to history it had closed. Its
 * new tail is kept pending and scanned (core.ts); the log's doing so is the incident, HIGH.
 */
export function frozenTreeGrewAlert(
  log: { name: string; url: string },
  tree: { origin: string; cursor: number },
  recorded: VerifiedCheckpoint,
  listed: VerifiedCheckpoint,
): AlertInput {
  return {
    kind: 'log-tree-changed',
    severity: 'HIGH',
    subject: log.url,
    key: `log-tree-changed:${log.name}:${tree.origin}:grew:${listed.size}`,
    summary:
      `the transparency log lists tree "${tree.origin}", frozen at ${recorded.size} entries and scanned to its end, ` +
      `with a new final head of ${listed.size} entries that extends it: a frozen tree does not grow, so the log ` +
      `appended to history it had closed; the ${listed.size - recorded.size} entries past ${recorded.size} are scanned now`,
    evidence: {
      logUrl: log.url,
      checkpoints: [recorded.note, listed.note],
      origin: tree.origin,
      recordedTreeSize: recorded.size,
      listedTreeSize: listed.size,
      scannedTo: tree.cursor,
    },
  };
}

/**
 * A frozen tree the log lists, with a head that verifies, that it did not list before and that the
 * monitor neither left nor passed over: history shown now that was kept out of sight (a split view
 * made public). Its entries are provable to anyone with the log's key and were never scanned; how
 * much history it holds is the log's word, so it is alerted, not scanned.
 */
export function frozenTreeAppearedAlert(
  log: { name: string; url: string },
  tree: { origin: string; size: number; checkpoint: VerifiedCheckpoint },
): AlertInput {
  return {
    kind: 'log-tree-changed',
    severity: 'HIGH',
    subject: log.url,
    key: `log-tree-changed:${log.name}:${tree.origin}:appeared`,
    summary:
      `the transparency log lists a frozen tree "${tree.origin}" of ${tree.checkpoint.size} entries that it did not ` +
      'list before and that the monitor never followed: history kept out of sight until now; its entries are not scanned',
    evidence: {
      logUrl: log.url,
      checkpoints: [tree.checkpoint.note],
      origin: tree.origin,
      listedTreeSize: tree.size,
      treeSize: tree.checkpoint.size,
    },
  };
}

/**
 * A tree the monitor finished, scanned to a final head that verified, that the log's listing (read,
 * its own signed head verified) no longer includes: a frozen tree is closed history, never dropped,
 * so the log removed from sight history the monitor had checked. Nothing of the tree is lost to the
 * monitor (it was scanned to its end); the log's doing so is the incident, HIGH, raised once
 * (core.ts remembers it in the state), with the head it was finished at as evidence. Raised by the
 * second run to find it missing, the first having remembered when (`missingSince`): the next run,
 * or a later one with only listings that include it in between (`listedBetween`, fewer than core.ts
 * needs in a row to forget the omission), a log hiding the tree now and then.
 */
export function frozenTreeVanishedAlert(
  log: { name: string; url: string },
  tree: { origin: string; cursor: number; missingSince: string; listedBetween: number },
  finished: VerifiedCheckpoint,
  listedFrozen: number,
): AlertInput {
  const missing =
    tree.listedBetween === 0
      ? `missing from two listings in a row, the first read at ${tree.missingSince}`
      : `missing from the listing read at ${tree.missingSince}, listed in the next ` +
        `${tree.listedBetween === 1 ? 'one' : tree.listedBetween}, missing again now`;
  return {
    kind: 'log-tree-changed',
    severity: 'HIGH',
    subject: log.url,
    key: `log-tree-changed:${log.name}:${tree.origin}:vanished`,
    summary:
      `the transparency log no longer lists tree "${tree.origin}", frozen at ${finished.size} entries ` +
      `(root ${finished.rootHash.toString('hex')}) and scanned to its end (${missing}): a frozen tree is closed history, ` +
      'so the log dropped from its listing history the monitor had checked; if it is listed again, it is held ' +
      'to that head',
    evidence: {
      logUrl: log.url,
      checkpoints: [finished.note],
      origin: tree.origin,
      finishedTreeSize: finished.size,
      finishedRootHash: finished.rootHash.toString('hex'),
      scannedTo: tree.cursor,
      missingSince: tree.missingSince,
      listedBetween: tree.listedBetween,
      listedFrozenTrees: listedFrozen,
    },
  };
}

/** One `log-stalled` incident per log: raised once per stall, resolved when the log grows. */
export function logStalledKey(log: string): string {
  return `log-stalled:${log}`;
}

/**
 * The log has served no larger checkpoint for longer than it may. A quiet log does this, so it is a
 * warning (MEDIUM), not proof of an attack; but a log, or a cache or bucket serving its files (which
 * needs no key), that keeps serving an old signed checkpoint does too, and hides every entry
 * appended meanwhile. One incident per log, resolved when the log grows (stall.ts).
 */
export function logStalledAlert(
  log: { name: string; url: string },
  served: VerifiedCheckpoint,
  since: string,
  stalledAfterMs: number,
): AlertInput {
  const hours = stalledAfterMs / 3_600_000;
  return {
    kind: 'log-stalled',
    severity: 'MEDIUM',
    subject: log.url,
    key: logStalledKey(log.name),
    summary:
      `the transparency log has not grown since ${since} (more than ${hours} h): it keeps serving tree ` +
      `"${served.origin}" at ${served.size} entries, so nothing appended since can be seen`,
    evidence: {
      logUrl: log.url,
      checkpoints: [served.note],
      origin: served.origin,
      treeSize: served.size,
      rootHash: served.rootHash.toString('hex'),
      since,
      stalledAfterHours: hours,
    },
  };
}
