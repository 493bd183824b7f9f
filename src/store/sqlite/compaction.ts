// Compaction of body segments (segments.ts): the space of expunged bodies back to the file system.
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
import { statSync } from 'node:fs';
import type { SqliteStatement } from './connection.ts';
import { listSegments, RECORD_OVERHEAD_BYTES, segmentPath, type SegmentReader, type SegmentWriter } from './segments.ts';

/** Records one compaction request moves at most: bounds how long one batch holds the writer. */
export const COMPACTION_RECORDS_PER_REQUEST = 256;
/** Bytes one compaction request moves at most (a few very large bodies). */
export const COMPACTION_BYTES_PER_REQUEST = 32 * 1024 * 1024;

export interface SegmentUsage {
  segment: number;
  /** Bytes of the file on disk. */
  fileBytes: number;
  /** Bytes of the records rows still reference. */
  liveBytes: number;
  records: number;
}

export interface SegmentFiles {
  writer: SegmentWriter;
  reader: SegmentReader;
  dir: string;
  /** Segments holding records of requests not committed yet (waiting, or in the running batch): their rows
   * are not there yet, so the file must stay even if no committed row references it. */
  inFlight(): ReadonlySet<number>;
}

function busy(files: SegmentFiles, segment: number): boolean {
  return files.writer.isBusy(segment) || files.inFlight().has(segment);
}

/** What one compaction request did. */
export interface CompactionStep {
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

/** Every segment file, with how much of it rows still reference; files this writer is using are left out. */
export function segmentUsage(sql: (text: string) => SqliteStatement, files: SegmentFiles): SegmentUsage[] {
  const live = new Map<number, { records: number; bytes: number }>();
  const rows = sql('SELECT segment, count(*) AS records, sum(size) AS bytes FROM bodies WHERE segment IS NOT NULL GROUP BY segment').all() as {
    segment: number;
    records: number;
    bytes: number;
  }[];
  for (const row of rows) live.set(row.segment, { records: row.records, bytes: row.bytes + row.records * RECORD_OVERHEAD_BYTES });
  const usage: SegmentUsage[] = [];
  for (const segment of listSegments(files.dir)) {
    if (busy(files, segment)) continue;
    let fileBytes: number;
    try {
      fileBytes = statSync(segmentPath(files.dir, segment)).size;
    } catch {
      continue; // deleted meanwhile by another writer's open
    }
    const used = live.get(segment);
    usage.push({ segment, fileBytes, liveBytes: used?.bytes ?? 0, records: used?.records ?? 0 });
  }
  return usage;
}

/**
 * Moves up to COMPACTION_RECORDS_PER_REQUEST live records of `segment` to the writer's current segment, inside
 * the batch's transaction. `used` collects the records the batch must wait for; `removeAfterCommit` the files
 * to delete once it committed.
 */
export function compactSegmentStep(
  sql: (text: string) => SqliteStatement,
  files: SegmentFiles,
  segment: number,
  used: { maxSeq: number; segments: Set<number> },
  removeAfterCommit: number[],
): CompactionStep {
  const step: CompactionStep = { busy: false, moved: 0, movedBytes: 0, remaining: 0, removed: false, fileBytes: 0 };
  if (busy(files, segment)) return { ...step, busy: true };
  const rows = sql('SELECT id, size, seg_offset, seg_nonce FROM bodies WHERE segment = ? ORDER BY seg_offset LIMIT ?').all(segment, COMPACTION_RECORDS_PER_REQUEST) as {
    id: number;
    size: number;
    seg_offset: number;
    seg_nonce: Buffer | null;
  }[];
  const move = sql('UPDATE bodies SET segment = ?, seg_offset = ?, seg_nonce = ? WHERE id = ?');
  for (const row of rows) {
    if (step.moved > 0 && step.movedBytes + row.size > COMPACTION_BYTES_PER_REQUEST) break;
    // Throws 'corrupt' for a record that fails authentication: the request fails and its changes roll back.
    const body = files.reader.read(segment, row.seg_offset, row.id, row.size, row.seg_nonce);
    const { ticket, nonce } = files.writer.append(body);
    move.run(ticket.segment, ticket.offset, nonce, row.id);
    used.segments.add(ticket.segment);
    used.maxSeq = Math.max(used.maxSeq, ticket.seq);
    step.moved++;
    step.movedBytes += row.size;
  }
  step.remaining = (sql('SELECT count(*) AS n FROM bodies WHERE segment = ?').get(segment) as { n: number }).n;
  if (step.remaining === 0) {
    try {
      step.fileBytes = statSync(segmentPath(files.dir, segment)).size;
    } catch {
      step.fileBytes = 0;
    }
    step.removed = true;
    removeAfterCommit.push(segment);
  }
  return step;
}
