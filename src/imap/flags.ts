// Flags as IMAP spells them (RFC 9051 2.3.2).

export const SYSTEM_FLAGS = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'] as const;

/** Canonical spelling of a system flag given in any case; keywords are kept as given. */
export function canonicalFlag(flag: string): string {
  if (flag.startsWith('\\')) {
    const lower = flag.toLowerCase();
    for (const f of SYSTEM_FLAGS) if (f.toLowerCase() === lower) return f;
    if (lower === '\\recent') return '\\Recent';
  }
  return flag;
}

export function formatFlags(flags: readonly string[]): string {
  return `(${flags.join(' ')})`;
}

export function hasFlag(flags: readonly string[], flag: string): boolean {
  const lower = flag.toLowerCase();
  return flags.some((f) => f.toLowerCase() === lower);
}
