// Finds the line of a key in TOML source, so that a validation error can say where it is.
// Handles the forms our config uses: [table] and [table.sub] headers with `key = value` lines.

export function lineOfKey(source: string, path: readonly (string | number)[]): number | undefined {
  const names = path.filter((p): p is string => typeof p === 'string');
  if (names.length === 0) return undefined;
  const lines = source.split(/\r?\n/);
  // Try the longest table prefix first: [a.b] c = ... before [a] b.c = ...
  for (let split = names.length - 1; split >= 0; split--) {
    const table = names.slice(0, split).join('.');
    const key = names.slice(split).join('.');
    let current = '';
    for (let i = 0; i < lines.length; i++) {
      const line = (lines[i] ?? '').trim();
      const header = /^\[\[?\s*([^\]]+?)\s*\]\]?/.exec(line);
      if (header) {
        current = (header[1] ?? '').replace(/\s+/g, '').replace(/"/g, '');
        if (key === '' && current === table) return i + 1;
        continue;
      }
      if (current !== table) continue;
      const m = /^("?)([A-Za-z0-9_.-]+)\1\s*=/.exec(line);
      if (m && m[2] === key) return i + 1;
    }
  }
  // A missing key: point at its table's header if there is one.
  const table = names.slice(0, -1).join('.');
  if (table) {
    const idx = lines.findIndex((l) => l.trim().replace(/\s+/g, '') === `[${table}]`);
    if (idx >= 0) return idx + 1;
  }
  return undefined;
}
