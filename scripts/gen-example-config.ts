// Writes mailstack.example.toml from the config schema: every key, its default, and the comment written
// beside it in src/config/sections/. One source for the schema and its documentation; a test checks that the
// committed file is what this script makes.
//   node --import tsx scripts/gen-example-config.ts [--check]
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { stringify } from 'smol-toml';
import { configSchema } from '../src/config/schema.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const sectionsDir = join(root, 'src/config/sections');
export const EXAMPLE_FILE = join(root, 'mailstack.example.toml');

/** The comment block above each key of each `export const NAME = z.object(...)` in the section files. */
function sectionDocs(): Map<string, Map<string, string>> {
  const docs = new Map<string, Map<string, string>>();
  for (const file of readdirSync(sectionsDir).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(join(sectionsDir, file), 'utf8');
    for (const block of text.split(/^export const /m).slice(1)) {
      const name = /^(\w+)/.exec(block)?.[1];
      if (!name) continue;
      const keys = new Map<string, string>();
      const re = /((?:[ \t]*\/\*\*(?:(?!\*\/)[\s\S])*\*\/[ \t]*\n)|(?:(?:[ \t]*\/\/[^\n]*\n)+))?^[ \t]+(\w+): (?:z\b|[a-z]\w*\b)/gm;
      let m: RegExpExecArray | null;
      while ((m = re.exec(block))) {
        const comment = (m[1] ?? '')
          .replace(/\/\*\*|\*\/|^\s*\*\s?|^\s*\/\/\s?/gm, '')
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean)
          .join(' ');
        keys.set(m[2]!, comment);
      }
      docs.set(name, keys);
    }
  }
  return docs;
}

function tableConsts(): Map<string, string> {
  const text = readFileSync(join(root, 'src/config/schema.ts'), 'utf8');
  const map = new Map<string, string>();
  for (const m of text.matchAll(/^\s+(\w+): (\w+Section),?$/gm)) map.set(m[1]!, m[2]!);
  return map;
}

function wrap(text: string, width = 110): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line.length + word.length + 1 > width) {
      lines.push(line);
      line = '#';
    }
    line += ' ' + word;
  }
  if (line !== '#') lines.push(line);
  return lines;
}

type AnySchema = { def?: { type?: string; innerType?: AnySchema; shape?: Record<string, AnySchema>; valueType?: AnySchema }; shape?: Record<string, AnySchema> };
function objectShape(schema: AnySchema): Record<string, AnySchema> | null {
  let s: AnySchema | undefined = schema;
  for (let i = 0; i < 5 && s; i++) {
    if (s.def?.type === 'object') return s.def.shape ?? s.shape ?? null;
    s = s.def?.innerType;
  }
  return null;
}

export function generateExample(): string {
  const docs = sectionDocs();
  const consts = tableConsts();
  const defaults = configSchema.parse({ server: { data_dir: '/var/lib/mailstack' } }) as unknown as Record<string, Record<string, unknown>>;
  const rootShape = objectShape(configSchema as unknown as AnySchema)!;
  const out: string[] = [
    '# mailstack.example.toml: every config key, with its default. Generated from src/config/sections/ by',
    '# scripts/gen-example-config.ts; edit the comments there. Keys shown commented out have no default.',
    '# Relative paths are relative to the config file. Check a config with: mailstack config check --config FILE',
  ];
  for (const [table, tableSchema] of Object.entries(rootShape)) {
    const constName = consts.get(table);
    const keyDocs = (constName && docs.get(constName)) || new Map<string, string>();
    const shape = objectShape(tableSchema) ?? {};
    out.push('', `[${table}]`);
    const nested: string[] = [];
    for (const [key, keySchema] of Object.entries(shape)) {
      const comment = keyDocs.get(key);
      const value = defaults[table]?.[key];
      const lines = comment ? wrap(comment) : [];
      if (keySchema.def?.type === 'record' || (keySchema.def?.innerType?.def?.type === 'record')) {
        // A table of tables, like [access.listeners.NAME]: show one commented example.
        const inner = objectShape((keySchema.def?.type === 'record' ? keySchema : keySchema.def!.innerType!).def!.valueType!) ?? {};
        const innerConst = [...docs.entries()].find(([, m]) => Object.keys(inner).every((k) => m.has(k)))?.[1];
        nested.push('', ...lines, `# [${table}.${key}.NAME]`);
        for (const innerKey of Object.keys(inner)) {
          const c = innerConst?.get(innerKey);
          if (c) nested.push(...wrap(c).map((l) => '#' + l));
          nested.push(`# ${innerKey} = ...`);
        }
        continue;
      }
      out.push(...lines);
      if (value === undefined) out.push(`# ${key} = ...`);
      else out.push(stringify({ [key]: value }).trim());
    }
    out.push(...nested);
  }
  return out.join('\n') + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = generateExample();
  if (process.argv.includes('--check')) {
    const current = readFileSync(EXAMPLE_FILE, 'utf8');
    if (current !== text) {
      console.error('mailstack.example.toml is out of date: run node --import tsx scripts/gen-example-config.ts');
      process.exit(1);
    }
  } else {
    writeFileSync(EXAMPLE_FILE, text);
    console.log(`wrote ${EXAMPLE_FILE}`);
  }
}
