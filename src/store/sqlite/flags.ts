// Message flags as a set: system flags spelled as RFC 9051 2.3.2 spells them, keywords kept as given.
import { StoreError } from '../types.ts';

const SYSTEM_FLAGS = ['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft'] as const;
const SYSTEM_BY_LOWER = new Map<string, string>(SYSTEM_FLAGS.map((f) => [f.toLowerCase(), f]));
/** A keyword longer than this is a client bug or an attack, not a label. */
export const MAX_FLAG_LENGTH = 256;
/** Flags per message: enough for any labelling scheme, small enough to keep rows small. */
export const MAX_FLAGS_PER_MESSAGE = 128;

/**
 * Normalises a list of flags into a set: system flags case-normalised, keywords deduplicated
 * case-insensitively (first spelling wins). \Recent is dropped: IMAP4rev2 removed it and it is never stored.
 */
export function normalizeFlags(flags: readonly string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const flag of flags) {
    // RFC 9051 9 (flag-keyword = atom): no atom-specials; a backslash only opens a system flag.
    if (typeof flag !== 'string' || flag.length === 0 || flag.length > MAX_FLAG_LENGTH || /[\s()\]{%*"\x00-\x1f\x7f]/.test(flag) || flag.indexOf('\\', 1) >= 0) {
      throw new StoreError('invalid', `invalid flag ${JSON.stringify(flag)}`);
    }
    const lower = flag.toLowerCase();
    if (lower === '\\recent') continue;
    let spelled = flag;
    if (flag.startsWith('\\')) {
      const system = SYSTEM_BY_LOWER.get(lower);
      if (!system) throw new StoreError('invalid', `unknown system flag ${flag}`);
      spelled = system;
    }
    if (seen.has(lower)) continue;
    seen.add(lower);
    out.push(spelled);
  }
  if (out.length > MAX_FLAGS_PER_MESSAGE) throw new StoreError('invalid', `more than ${MAX_FLAGS_PER_MESSAGE} flags on one message`);
  return out;
}

/** Applies a STORE operation to a normalised flag set; returns the new set (normalised). */
export function applyFlags(current: readonly string[], operation: 'add' | 'remove' | 'set', flags: readonly string[]): string[] {
  if (operation === 'set') return [...flags];
  if (operation === 'add') return normalizeFlags([...current, ...flags]);
  const remove = new Set(flags.map((f) => f.toLowerCase()));
  return current.filter((f) => !remove.has(f.toLowerCase()));
}

export function sameFlags(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const lower = new Set(a.map((f) => f.toLowerCase()));
  return b.every((f) => lower.has(f.toLowerCase()));
}

export function hasFlag(flags: readonly string[], flag: string): boolean {
  return flags.includes(flag);
}
