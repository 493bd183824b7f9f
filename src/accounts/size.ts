// Sizes as people write them in config files and on the command line ("500M", "2G", "0" = unlimited).

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tb: 1024 ** 4, tib: 1024 ** 4 };

export class SizeError extends Error {
  readonly code = 'SIZE';
}

/** Parses "1048576", "500M", "2.5G" (binary units, as Dovecot's quota_rule does) into bytes. */
export function parseSize(input: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$/.exec(input);
  const unit = m ? UNITS[(m[2] ?? '').toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new SizeError(`"${input}" is not a size (examples: 0 for unlimited, 1048576, 500M, 2G)`);
  const bytes = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new SizeError(`"${input}" is too large`);
  return bytes;
}

/** 1536 -> "1.5K"; 0 -> "0". */
export function formatSize(bytes: number): string {
  const units = ['', 'K', 'M', 'G', 'T'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? String(bytes) : `${Number(v.toFixed(1))}${units[i]}`;
}
