/**
 * Reading log answers with a bound. fetch inflates a `Content-Encoding: gzip` answer as it is read,
 * so a few hundred KiB on the wire can become hundreds of MiB: bytes are counted as they arrive,
 * after decompression, and the read stops (the stream cancelled) once a limit is passed. Whoever
 * serves the log's files (a CDN, a bucket) can send such an answer without the log's key. Read for
 * a scan's batch, the bytes also count against the scan's read budget (read-budget.ts), which
 * bounds what all its answers hold together.
 */
import { constants, createGunzip, gunzipSync } from 'node:zlib';
import { DependencyError, SigsentryError, urlForLog } from '../../errors.ts';
import { describeError } from '../../logging/describe.ts';
import { deadlineOf } from './deadline.ts';
import { LogResponseTooLargeError } from './errors.ts';
import { encodedBodyOf } from './node-fetch.ts';
import { currentReadAccount } from './read-budget.ts';

/** One answer to read: what it is (for messages), where it came from, and its limit (limits.ts). */
export interface BodyRead {
  what: string;
  url: string;
  limit: number;
  /** What errors name beside the URL (a log index, a tile). */
  details?: Record<string, unknown>;
}

interface Chunks {
  chunks: Uint8Array[];
  size: number;
  /** The body went on past the limit; `chunks` hold its first `limit` bytes. */
  over: boolean;
}

/** Counts a chunk of a read: undefined when done at once, else a promise (it waits for room). */
type Charge = (bytes: number) => Promise<void> | undefined;

/** A read's count in its batch's account: charged as bytes come, part released, all refunded. */
interface BudgetedRead {
  charge: Charge;
  /** Gives back bytes no longer held (a gzipped body once inflated). */
  release: (bytes: number) => void;
  refund: () => void;
}

/**
 * The whole body, at most `read.limit` bytes. A larger one is LogResponseTooLargeError; a read that
 * fails (a stall past the timeout, a dropped connection) a retryable DependencyError, as a failed
 * request is. Inside a batch's read account the bytes are counted there (read-budget.ts), and given
 * back if the read fails.
 */
export async function readBodyBytes(res: Response, read: BodyRead): Promise<Buffer> {
  const budget = budgetedRead(res, read);
  try {
    const coding = encodedBodyOf(res);
    if (coding !== undefined) return await readEncoded(res, read, coding, budget);
    const declared = declaredLength(res);
    if (declared !== undefined && declared > read.limit) {
      await cancel(res.body);
      throw tooLarge(read, `its Content-Length is ${declared}`);
    }
    const got = await readFailingAsDependency(res, read, budget?.charge);
    if (got.over) throw tooLarge(read, 'reading stopped there');
    return Buffer.concat(got.chunks, got.size);
  } catch (err) {
    budget?.refund();
    throw err;
  } finally {
    deadlineOf(res)?.clear();
  }
}

/**
 * The charge for a read in a batch's account, if it is in one. A chunk that must wait for room stops
 * the request's clock meanwhile (deadline.ts): the wait is the scan's back-pressure, not a stall.
 */
function budgetedRead(res: Response, read: BodyRead): BudgetedRead | undefined {
  const account = currentReadAccount();
  if (account === undefined) return undefined;
  const deadline = deadlineOf(res);
  let counted = 0;
  return {
    charge: (bytes) => {
      const wait = account.take(bytes, read);
      if (wait === undefined) {
        counted += bytes;
        return undefined;
      }
      deadline?.pause();
      return wait.then(
        () => {
          counted += bytes;
          deadline?.resume();
        },
        (err: unknown) => {
          deadline?.resume();
          throw err;
        },
      );
    },
    release: (bytes) => {
      account.give(bytes);
      counted -= bytes;
    },
    refund: () => {
      account.give(counted);
      counted = 0;
    },
  };
}

/**
 * The most bytes `limit` bytes take gzipped: deflate's stored blocks add 5 bytes to each 16 KiB at
 * worst (zlib's deflateBound), gzip a header and trailer; 1 KiB covers a header's optional fields.
 */
function gzippedBound(limit: number): number {
  return limit + 5 * Math.ceil(limit / 16_383) + 1024;
}

/**
 * A body logFetch left encoded (node-fetch.ts): its gzipped bytes read and counted as they come,
 * then inflated in one call. The inflated bytes are counted before they are made, so that a read
 * waiting for room holds none: gzip's trailer states the size (ISIZE, RFC 1952), zlib checks it,
 * and the inflation stops at the count. A body of several gzip members, whose trailer states only
 * the last one's size, is counted again at the whole limit.
 */
async function readEncoded(
  res: Response,
  read: BodyRead,
  coding: string,
  budget: BudgetedRead | undefined,
): Promise<Buffer> {
  if (coding !== 'gzip' && coding !== 'x-gzip') {
    await cancel(res.body);
    throw new DependencyError(
      'rekor',
      `the ${read.what} at ${urlForLog(read.url)} came in Content-Encoding ${coding}, which was not asked for (Accept-Encoding: gzip)`,
      read.details ?? {},
    );
  }
  const got = await readFailingAsDependency(
    res,
    { ...read, limit: gzippedBound(read.limit) },
    budget?.charge,
  );
  if (got.over) throw tooLarge(read, 'more than that many gzipped came');
  const gzipped = Buffer.concat(got.chunks, got.size);
  if (gzipped.length === 0) return gzipped;
  const stated = gzipped.length >= 4 ? gzipped.readUInt32LE(gzipped.length - 4) : 0;
  // The gzipped bytes, counted as they came, count toward the inflated ones: while one call
  // inflates (one at a time: it is synchronous) both are held, at most one answer's gzip more.
  let counted = gzipped.length;
  for (const room of stated < read.limit ? [stated, read.limit] : [read.limit]) {
    if (room > counted) {
      const wait = budget?.charge(room - counted);
      if (wait !== undefined) await wait;
      counted = room;
    }
    try {
      // zlib wants a maxOutputLength of at least 1; an empty body is a legal gzip of nothing.
      const body = gunzipSync(gzipped, { maxOutputLength: Math.max(1, room) });
      if (body.length > room) continue; // the one byte the bound of 1 let through: read again at the limit
      budget?.release(counted - body.length);
      return body;
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ERR_BUFFER_TOO_LARGE') {
        throw new DependencyError(
          'rekor',
          `reading the ${read.what} at ${urlForLog(read.url)} failed: its gzip does not inflate: ${describeError(err)}`,
          read.details ?? {},
          err,
        );
      }
    }
  }
  throw tooLarge(read, 'it inflates past it');
}

/** Body bytes as text, as Response.text() reads them: UTF-8, a BOM dropped. */
export function bodyText(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

/** The whole body as text (bodyText), at most `read.limit` bytes. */
export async function readBodyText(res: Response, read: BodyRead): Promise<string> {
  return bodyText(await readBodyBytes(res, read));
}

/**
 * The first `limit` bytes of a body of which no more is of use (an error answer's), as text; the
 * rest is not read. A failed read throws what the stream threw.
 */
export async function readBodyPrefix(res: Response, limit: number): Promise<string> {
  if (res.body === null) return '';
  const got = await readChunks(res.body, limit);
  const bytes = Buffer.concat(got.chunks, got.size);
  const coding = encodedBodyOf(res);
  if (coding === undefined) return bodyText(bytes);
  if (coding !== 'gzip' && coding !== 'x-gzip') return `(an answer in Content-Encoding ${coding})`;
  return bodyText(await inflatedPrefix(bytes, limit));
}

/** The first `limit` bytes `gzipped` inflates to, as far as it inflates (it may be cut off). */
async function inflatedPrefix(gzipped: Buffer, limit: number): Promise<Buffer> {
  const gunzip = createGunzip({ finishFlush: constants.Z_SYNC_FLUSH });
  const chunks: Buffer[] = [];
  let size = 0;
  gunzip.end(gzipped);
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= limit) break; // the stream is destroyed: no more is inflated
    }
  } catch {
    // A corrupt answer: what inflated before it went wrong.
  }
  return Buffer.concat(chunks, size).subarray(0, limit);
}

/**
 * Content-Length, when it counts the bytes read: with a Content-Encoding it counts the encoded ones,
 * which for an honest answer of exactly the limit (an 8 KiB tile, gzipped) can be a few more.
 */
function declaredLength(res: Response): number | undefined {
  const encoding = res.headers.get('content-encoding');
  if (encoding !== null && encoding.trim().toLowerCase() !== 'identity') return undefined;
  const length = res.headers.get('content-length');
  return length !== null && /^\d{1,15}$/.test(length.trim()) ? Number(length.trim()) : undefined;
}

async function readFailingAsDependency(res: Response, read: BodyRead, charge?: Charge): Promise<Chunks> {
  if (res.body === null) return { chunks: [], size: 0, over: false };
  try {
    return await readChunks(res.body, read.limit, charge);
  } catch (err) {
    if (err instanceof SigsentryError) throw err; // the budget's, not the stream's
    throw new DependencyError(
      'rekor',
      `reading the ${read.what} at ${urlForLog(read.url)} failed: ${describeError(err)}`,
      read.details ?? {},
      err,
    );
  }
}

/**
 * Reads until the end or until more than `limit` bytes came; then cancels, so no more is inflated.
 * Each chunk is charged before it is kept; while a charge waits, nothing more is read. A charge
 * that fails cancels the stream.
 */
async function readChunks(body: ReadableStream<Uint8Array>, limit: number, charge?: Charge): Promise<Chunks> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { chunks, size, over: false };
      if (size + value.byteLength > limit) {
        chunks.push(value.subarray(0, limit - size));
        await reader.cancel().catch(() => {});
        return { chunks, size: limit, over: true };
      }
      const wait = charge?.(value.byteLength);
      if (wait !== undefined) await wait;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch (err) {
    await reader.cancel().catch(() => {});
    throw err;
  } finally {
    reader.releaseLock();
  }
}

async function cancel(body: ReadableStream<Uint8Array> | null): Promise<void> {
  await body?.cancel().catch(() => {});
}

function tooLarge(read: BodyRead, seen: string): LogResponseTooLargeError {
  return new LogResponseTooLargeError(read.what, read.url, read.limit, seen, read.details);
}
