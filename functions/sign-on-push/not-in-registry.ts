/**
 * A pushed image the registry does not have (404), and what may explain it. Pub/Sub does not order
 * messages, and Artifact Registry publishes a DELETE on `gcr` when an image or tag is deleted: a
 * push handled after its image was deleted (a cleanup policy, a CI scratch image, a backlog) is
 * explained by the recorded DELETE and acknowledged with a NOTICE. A 404 nothing explains stays a
 * refusal with a HIGH `signing-refused` alert: a registry mapped wrongly would otherwise sign
 * nothing, in silence.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { PolicyViolationError } from '../errors.ts';
import type { GcrNotification } from '../events/gcr-message.ts';
import type { Logger } from '../logging/logger.ts';
import { RegistryNotFoundError } from '../registry/errors.ts';
import {
  type Deletion,
  type DeletionRecord,
  type DeletionStore,
  deletionTime,
} from '../state/deletion-records.ts';

/** The refusal of a push whose image (or tag) is not in the registry. */
export class NotInRegistryError extends PolicyViolationError {
  constructor(named: string) {
    super(`refusing to sign: ${named} is not in the registry`, { image: named });
  }
}

/** A push acknowledged because what it named was deleted before it could be signed. */
export interface DeletedBeforeSigning {
  /** What the push named (a digest or tag reference). */
  image: string;
  /** The deletion that explains it: what was deleted, and when its message was published. */
  deletion: DeletionRecord;
}

/** A manifest the registry does not have is a refusal (alerted), not a failure to retry. */
export function notInRegistry(err: unknown, named: string): unknown {
  return err instanceof RegistryNotFoundError ? new NotInRegistryError(named) : err;
}

/**
 * How long before a push's message a deletion's message may have been published and still explain
 * it. Artifact Registry publishes the two independently (a push's message may be late); a deletion
 * from long before (a tag deleted last week, then pushed again) explains nothing about this push.
 */
export const DELETION_BEFORE_PUSH_MS = 10 * 60_000;

/**
 * How long a push not in the registry, with no deletion recorded, waits before it looks once more:
 * a push deleted at once is usually delivered together with its DELETE, handled at that moment.
 */
export const DELETION_WAIT_MS = 5_000;

/** What a DELETE message deleted: each reference it names. */
export function deletionsOf(n: GcrNotification, publishedAt: number | undefined): Deletion[] {
  const when = publishedAt !== undefined ? { publishedAt } : {};
  return [
    ...(n.raw.digest !== undefined ? [{ reference: n.raw.digest, kind: 'digest' as const, ...when }] : []),
    ...(n.raw.tag !== undefined ? [{ reference: n.raw.tag, kind: 'tag' as const, ...when }] : []),
  ];
}

/**
 * The references whose deletion explains that a push is not in the registry: the digest a message
 * names (only its deletion takes the manifest away); for a tag-only push, the tag, and the digest
 * the tag resolved to when it did.
 */
export function referencesGone(n: GcrNotification, resolved: string | undefined): string[] {
  if (n.raw.digest !== undefined) return [n.raw.digest];
  return [n.raw.tag!, ...(resolved !== undefined ? [`${n.host}/${n.repository}@${resolved}`] : [])];
}

/**
 * Whether `deletion` explains a push published at `pushedAt`: it was published after it (within
 * DELETION_BEFORE_PUSH_MS). An operator's request (no publish time) is explained by any.
 */
export function explainsPush(deletion: DeletionRecord, pushedAt: number | undefined): boolean {
  return pushedAt === undefined || deletionTime(deletion) >= pushedAt - DELETION_BEFORE_PUSH_MS;
}

/**
 * The recorded deletion that explains the push, if one does. A push from Pub/Sub with none yet
 * waits `waitMs` and looks once more (its DELETE may be being recorded right now); later than that,
 * it is refused (README). A failed read throws (retryable): Pub/Sub redelivers the push.
 */
export async function explainingDeletion(
  store: DeletionStore,
  references: readonly string[],
  pushedAt: number | undefined,
  waitMs = DELETION_WAIT_MS,
): Promise<DeletionRecord | undefined> {
  const look = async () => {
    for (const reference of references) {
      const deletion = await store.find(reference);
      if (deletion !== undefined && explainsPush(deletion, pushedAt)) return deletion;
    }
    return undefined;
  };
  const found = await look();
  if (found !== undefined || pushedAt === undefined || waitMs <= 0) return found;
  await sleep(waitMs);
  return look();
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Why the push is acknowledged unsigned, in a sentence (the CLI shows it as the skip's reason). */
export function deletedReason({ image, deletion }: DeletedBeforeSigning): string {
  const when =
    deletion.publishedAt !== undefined
      ? `published ${iso(deletion.publishedAt)}`
      : `recorded ${iso(deletion.recordedAt)}`;
  return `${image} was deleted from the registry before it could be signed (deletion of ${deletion.reference} ${when})`;
}

/** The NOTICE line of a push acknowledged unsigned: not an incident, there is nothing left to sign. */
export function noticeDeletedBeforeSigning(
  logger: Logger,
  { image, deletion }: DeletedBeforeSigning,
  pushedAt: number | undefined,
): void {
  logger.notice('image deleted before it could be signed', {
    image,
    deleted: deletion.reference,
    ...(deletion.publishedAt !== undefined ? { deletionPublishedAt: iso(deletion.publishedAt) } : {}),
    deletionRecordedAt: iso(deletion.recordedAt),
    ...(pushedAt !== undefined ? { pushPublishedAt: iso(pushedAt) } : {}),
  });
}
