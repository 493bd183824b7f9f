// Sequence sets (RFC 9051 9: sequence-set, seq-range, "*", and "$" from RFC 5182 SEARCHRES).
import { ImapSyntaxError } from '../errors.ts';
import type { CommandParser } from './tokens.ts';

/** 0 stands for "*" (the largest number in use): 0 is never a valid sequence number or UID. */
export interface SeqRange {
  from: number;
  to: number;
}

export type SequenceSet = { kind: 'ranges'; ranges: SeqRange[] } | { kind: 'saved' };

/** Bound on ranges in one set: a 64 KiB line holds at most ~13,000 "n:m," items anyway. */
const MAX_RANGES = 20_000;

export function parseSequenceSet(p: CommandParser): SequenceSet {
  if (p.take('$')) return { kind: 'saved' };
  const ranges: SeqRange[] = [];
  do {
    if (ranges.length >= MAX_RANGES) throw new ImapSyntaxError(`More than ${MAX_RANGES} ranges in a sequence set`);
    const from = seqNumber(p);
    let to = from;
    if (p.take(':')) to = seqNumber(p);
    ranges.push({ from, to });
  } while (p.take(','));
  return { kind: 'ranges', ranges };
}

function seqNumber(p: CommandParser): number {
  if (p.take('*')) return 0;
  return p.nzNumber();
}

/** Parses a sequence set from a string (for QRESYNC known-uids and tests). */
export function isSequenceSetText(s: string): boolean {
  return /^(\d+|\*)(:(\d+|\*))?(,(\d+|\*)(:(\d+|\*))?)*$/.test(s);
}

/**
 * Members of the set among `sorted` (ascending numbers in use: 1..n for sequence numbers, the UIDs for
 * UID sets), in ascending order without duplicates. "*" is the largest number in use (RFC 9051 6.4.8:
 * for UIDs, "n:*" with n above every UID still means the largest UID).
 */
export function resolveSet(ranges: readonly SeqRange[], sorted: ArrayLike<number>): number[] {
  if (sorted.length === 0) return [];
  const max = sorted[sorted.length - 1] as number;
  const norm = ranges.map(({ from, to }) => {
    const a = from === 0 ? max : from;
    const b = to === 0 ? max : to;
    return a <= b ? [a, b] as const : [b, a] as const;
  });
  norm.sort((x, y) => x[0] - y[0]);
  const out: number[] = [];
  let i = 0;
  for (const [a, b] of norm) {
    // binary search for the first element >= a, but never go back (ranges are sorted by start)
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((sorted[mid] as number) < a) lo = mid + 1;
      else hi = mid;
    }
    i = Math.max(i, lo);
    while (i < sorted.length && (sorted[i] as number) <= b) out.push(sorted[i++] as number);
  }
  return out;
}

/** Compresses ascending numbers into "1:3,5" form (for COPYUID, ESEARCH ALL, VANISHED). */
export function formatSet(numbers: readonly number[]): string {
  const sorted = [...numbers].sort((a, b) => a - b);
  const parts: string[] = [];
  let i = 0;
  while (i < sorted.length) {
    const start = sorted[i] as number;
    let end = start;
    while (i + 1 < sorted.length && ((sorted[i + 1] as number) === end + 1 || (sorted[i + 1] as number) === end)) end = sorted[++i] as number;
    parts.push(start === end ? String(start) : `${start}:${end}`);
    i++;
  }
  return parts.join(',');
}

/** Compresses numbers keeping their order (COPYUID pairs must correspond element by element). */
export function formatOrderedSet(numbers: readonly number[]): string {
  const parts: string[] = [];
  let i = 0;
  while (i < numbers.length) {
    const start = numbers[i] as number;
    let end = start;
    while (i + 1 < numbers.length && (numbers[i + 1] as number) === end + 1) end = numbers[++i] as number;
    parts.push(start === end ? String(start) : `${start}:${end}`);
    i++;
  }
  return parts.join(',');
}

/** Numbers in a set without a mailbox (every member spelled out), bounded: for QRESYNC's uid lists. */
export function expandSet(ranges: readonly SeqRange[], limit: number): number[] | null {
  const out: number[] = [];
  for (const { from, to } of ranges) {
    if (from === 0 || to === 0) return null;
    const a = Math.min(from, to);
    const b = Math.max(from, to);
    if (out.length + (b - a + 1) > limit) return null;
    for (let n = a; n <= b; n++) out.push(n);
  }
  return out;
}

/** Is n in one of the ranges, reading "*" as unbounded (for UID sets not tied to the current mailbox)? */
export function inRanges(n: number, ranges: readonly SeqRange[]): boolean {
  return ranges.some((r) => {
    const a = r.from === 0 ? Infinity : r.from;
    const b = r.to === 0 ? Infinity : r.to;
    return n >= Math.min(a, b) && n <= Math.max(a, b);
  });
}
