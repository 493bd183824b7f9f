// Compaction of body segments (segments.ts): the space of expunged bodies back to the file system, and the
// many small files of short-lived writers merged into few.
//
// A segment is append-only, and a body whose last message goes leaves dead bytes in it. Compaction runs in
// the writer thread, as write requests, a bounded chunk of records per request:
// 1. The live records of the segment are read and authenticated. A record that fails authentication stops
//    the request with 'corrupt' and nothing changes: compaction never drops or rewrites damaged mail.
// 2. Each body is appended again, as a new record with a fresh nonce, to the writer's current segment, and its
//    row is pointed at the copy.
// 3. The batch commits only once the copies are durable (writer-worker.ts waits for recordsUsed), as any
//    delivery does.
// 4. When no row references the segment any more, the file is deleted after that COMMIT.
// A crash before the COMMIT leaves copies no row references (dead bytes in a newer segment). A crash after it
// leaves a file no row references, which the next open deletes (SegmentWriter.open). Readers on the main thread
// that looked a row up just before it moved retry once (reader.ts).
//
// Which files (planCompaction):
// - A file whose share of dead bytes reaches the caller's ratio, or that holds no live record: rewritten alone.
// - Small files, when there are MIN_SMALL_FILES_TO_MERGE of them: merged, through the same steps, into the
//   writer's current segment, several files per request. Every writer starts a file of its own at its first
//   record, so each `mailstack deliver` run without a server leaves one file holding one body; those files
//   are fully live, no dead-share rule ever takes them, and without merging their number grows with every
//   delivery. After a compaction by a store alone on the data directory (serve), the files besides the
//   writer's own are large ones (SMALL_SEGMENT_BYTES or more each) and at most one small one. A store beside
//   other processes (direct mode) leaves small files written to within the last hour: one may be another
//   writer's current file.
// Never a file this writer appends to or has records of uncommitted requests in (SegmentFiles.inFlight()).
import { statSync } from 'node:fs';
import type { SqliteStatement } from './connection.ts';
import {
  listSegments,
  mayBeFilledByAnotherWriter,
  RECORD_OVERHEAD_BYTES,
  SEGMENT_MAX_BYTES,
  segmentPath,
  type SegmentReader,
  type SegmentWriter,
} from './segments.ts';

/** Records one compaction request moves at most: bounds how long one batch holds the writer. */
export const COMPACTION_RECORDS_PER_REQUEST = 256;
/** Bytes one compaction request moves at most (a few very large bodies). */
export const COMPACTION_BYTES_PER_REQUEST = 32 * 1024 * 1024;
/** Files one compaction request is given at most: a file is merged because it holds a record or more, so a
 * request could not finish more of them than it moves records. */
export const COMPACTION_FILES_PER_REQUEST = COMPACTION_RECORDS_PER_REQUEST;
/** A file below this size is small. An eighth of SEGMENT_MAX_BYTES: merging one copies at most 8 MiB to
 * save a file, and the files a compaction leaves, but one, are at least that large, so that there are no more
 * of them than the body files' bytes over 8 MiB, plus one. */
export const SMALL_SEGMENT_BYTES = SEGMENT_MAX_BYTES / 8;
/** Small files are merged once there are this many. One alone would only be copied into another file of
 * its kind (the writer's current one, often new): the count would not drop, and the same bytes would be
 * rewritten at every compaction. */
export const MIN_SMALL_FILES_TO_MERGE = 2;

export interface SegmentUsage {
  segment: number;
  /** Bytes of the file on disk. */
  fileBytes: number;
  /** Bytes of the records rows still reference. */
  liveBytes: number;
  records: number;
  /** The file's last modification (mtime), in ms since the epoch. */
  modifiedMs: number;
}

export interface SegmentFiles {
  writer: SegmentWriter;
  reader: SegmentReader;
  dir: string;
  /** Segments holding records of requests not committed yet (waiting, or in the running batch): their rows
   * are not there yet, so the file must stay even if no committed row references it. */
  inFlight(): ReadonlySet<number>;
}

/** What one compaction request did to one file. */
export interface CompactionStep {
  segment: number;
  /** The segment is in use by this writer (appended to, or records not yet durable): left alone. */
  busy: boolean;
  moved: number;
  movedBytes: number;
  /** Records the segment still holds after this step (another step moves them). */
  remaining: number;
  /** The file is deleted once this step commits. */
  removed: boolean;
  /** Its size on disk, when removed. */
  fileBytes: number;
}

/** The files one compaction takes, in the order it takes them. */
export interface CompactionPlan {
  /** Rewritten one at a time: mostly dead, or no live record left. */
  rewrite: number[];
  /** Small files merged into the writer's current segment. */
  merge: number[];
}

export interface CompactionPolicy {
  /** A file at least this share dead is rewritten (0 to 1). */
  minDeadRatio: number;
  /** No other process uses the data directory: a recently written file cannot be another writer's. */
  exclusive: boolean;
  nowMs: number;
}

export function planCompaction(usage: readonly SegmentUsage[], policy: CompactionPolicy): CompactionPlan {
  const small = usage.filter((file) => isMergeable(file, policy));
  const merge = small.length >= MIN_SMALL_FILES_TO_MERGE ? small.map((file) => file.segment) : [];
  const merging = new Set(merge);
  const rewrite = usage.filter((file) => !merging.has(file.segment) && isWorthRewriting(file, policy)).map((file) => file.segment);
  return { rewrite, merge };
}

function isWorthRewriting(file: SegmentUsage, policy: CompactionPolicy): boolean {
  if (file.records === 0) {
    // No committed row references it: emptied by expunges, or the current file of another process beside
    // this one (a `mailstack deliver`) whose first batch has not committed yet. Deleting that one failed the
    // delivery with a temporary error; a file that young is left for a later compaction.
    return policy.exclusive || !mayBeFilledByAnotherWriter(file.modifiedMs, policy.nowMs);
  }
  const dead = file.fileBytes - file.liveBytes;
  return dead > 0 && dead >= policy.minDeadRatio * file.fileBytes;
}

function isMergeable(file: SegmentUsage, policy: CompactionPolicy): boolean {
  if (file.records === 0 || file.fileBytes >= SMALL_SEGMENT_BYTES) return false;
  // A small file may be the current one of another process beside this one (an import, a deliver): taken
  // from under it, its next batch would fail. Such a file is being written to.
  return policy.exclusive || !mayBeFilledByAnotherWriter(file.modifiedMs, policy.nowMs);
}

/** Every segment file, with how much of it rows still reference; files this writer is using are left out. */
export function segmentUsage(sql: (text: string) => SqliteStatement, files: SegmentFiles): SegmentUsage[] {
  const live = new Map<number, { records: number; bytes: number }>();
  const rows = sql('SELECT segment, count(*) AS records, sum(coalesce(seg_length, size)) AS bytes FROM bodies WHERE segment IS NOT NULL GROUP BY segment').all() as {
    segment: number;
    records: number;
    bytes: number;
  }[];
  for (const row of rows) live.set(row.segment, { records: row.records, bytes: row.bytes + row.records * RECORD_OVERHEAD_BYTES });
  const inFlight = files.inFlight();
  const usage: SegmentUsage[] = [];
  for (const segment of listSegments(files.dir)) {
    if (isBusy(files, inFlight, segment)) continue;
    let stats: { size: number; mtimeMs: number };
    try {
      stats = statSync(segmentPath(files.dir, segment));
    } catch {
      continue; // deleted meanwhile by another writer's open
    }
    const used = live.get(segment);
    usage.push({ segment, fileBytes: stats.size, liveBytes: used?.bytes ?? 0, records: used?.records ?? 0, modifiedMs: stats.mtimeMs });
  }
  return usage;
}

function isBusy(files: SegmentFiles, inFlight: ReadonlySet<number>, segment: number): boolean {
  return files.writer.isBusy(segment) || inFlight.has(segment);
}

/** What one request may still move (COMPACTION_RECORDS_PER_REQUEST, COMPACTION_BYTES_PER_REQUEST), shared
 * by every file it works on. */
class RequestBudget {
  private records = 0;
  private bytes = 0;

  get recordsLeft(): number {
    return COMPACTION_RECORDS_PER_REQUEST - this.records;
  }

  allows(size: number): boolean {
    // The first record moves whatever its size: a body above the byte bound must still be movable.
    return this.recordsLeft > 0 && (this.records === 0 || this.bytes + size <= COMPACTION_BYTES_PER_REQUEST);
  }

  spend(size: number): void {
    this.records++;
    this.bytes += size;
  }
}

/**
 * Moves the live records of `segments`, in that order, to the writer's current segment, inside the batch's
 * transaction, until the request's budget is spent. One step per file looked at: the files after the one
 * the budget ran out in are left for the next request. `used` collects the records the batch must wait for;
 * `removeAfterCommit` the files to delete once it committed.
 */
export function compactSegmentsStep(
  sql: (text: string) => SqliteStatement,
  files: SegmentFiles,
  segments: readonly number[],
  used: { maxSeq: number; segments: Set<number> },
  removeAfterCommit: number[],
): CompactionStep[] {
  const inFlight = files.inFlight();
  const budget = new RequestBudget();
  const steps: CompactionStep[] = [];
  for (const segment of segments) {
    const step: CompactionStep = { segment, busy: false, moved: 0, movedBytes: 0, remaining: 0, removed: false, fileBytes: 0 };
    steps.push(step);
    if (isBusy(files, inFlight, segment)) {
      step.busy = true;
      continue;
    }
    moveLiveRecords(sql, files, step, budget, used);
    step.remaining = (sql('SELECT count(*) AS n FROM bodies WHERE segment = ?').get(segment) as { n: number }).n;
    if (step.remaining > 0) break;
    step.fileBytes = fileSize(files.dir, segment);
    step.removed = true;
    removeAfterCommit.push(segment);
  }
  return steps;
}

function moveLiveRecords(
  sql: (text: string) => SqliteStatement,
  files: SegmentFiles,
  step: CompactionStep,
  budget: RequestBudget,
  used: { maxSeq: number; segments: Set<number> },
): void {
  const rows = sql('SELECT id, size, seg_offset, seg_nonce, seg_length FROM bodies WHERE segment = ? ORDER BY seg_offset LIMIT ?').all(step.segment, budget.recordsLeft) as {
    id: number;
    size: number;
    seg_offset: number;
    seg_nonce: Buffer | null;
    seg_length: number | null;
  }[];
  const move = sql('UPDATE bodies SET segment = ?, seg_offset = ?, seg_nonce = ?, seg_length = ? WHERE id = ?');
  for (const row of rows) {
    if (!budget.allows(row.size)) break;
    // Throws 'corrupt' for a record that fails authentication: the request fails and its changes roll back.
    // A packed body moves packed (sealed again under a new nonce), with no unpacking and packing again.
    const stored = files.reader.readStored(step.segment, row.seg_offset, row.id, row.size, row.seg_nonce, row.seg_length);
    const { ticket, nonce } = files.writer.append({ bytes: stored, size: row.size, packedLength: row.seg_length });
    move.run(ticket.segment, ticket.offset, nonce, row.seg_length, row.id);
    used.segments.add(ticket.segment);
    used.maxSeq = Math.max(used.maxSeq, ticket.seq);
    budget.spend(row.size);
    step.moved++;
    step.movedBytes += row.size;
  }
}

function fileSize(dir: string, segment: number): number {
  try {
    return statSync(segmentPath(dir, segment)).size;
  } catch {
    return 0;
  }
}
