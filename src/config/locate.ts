// Finds the line of a key in TOML source, so that a validation error can say where it is.
// Handles the forms our config uses: [table], [table.sub] and [[table]] headers, `key = value` and dotted
// `a.b = value` lines. The source is indexed once (keyLines), and every error looks its key up: a config
// with thousands of errors costs one pass, not one pass per error (20,000 unknown keys took 48 s that way).

export type KeyLocator = (path: readonly (string | number)[]) => number | undefined;

const HEADER = /^\[\[?\s*([^\]]+?)\s*\]\]?/;
const KEY = /^("?)([A-Za-z0-9_.-]+)\1\s*=/;

/** Indexes `source`: each table header and each key by its full dotted path, at its first line. */
export function keyLines(source: string): KeyLocator {
  const tables = new Map<string, number>();
  const keys = new Map<string, number>();
  let current = '';
  const lines = source.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    const header = HEADER.exec(line);
    if (header) {
      current = (header[1] ?? '').replace(/\s+/g, '').replace(/"/g, '');
      if (!tables.has(current)) tables.set(current, i + 1);
      continue;
    }
    const key = KEY.exec(line);
    if (!key) continue;
    const full = current ? `${current}.${key[2]}` : (key[2] as string);
    if (!keys.has(full)) keys.set(full, i + 1);
  }
  return (path) => {
    const names = path.filter((p): p is string => typeof p === 'string');
    if (names.length === 0) return undefined;
    const full = names.join('.');
    // The key itself, or (an unknown or mistyped table) its header.
    const exact = keys.get(full) ?? tables.get(full);
    if (exact !== undefined) return exact;
    // A missing key: point at its table's header if there is one.
    return names.length > 1 ? tables.get(names.slice(0, -1).join('.')) : undefined;
  };
}
