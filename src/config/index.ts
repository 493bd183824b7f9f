// config: loads and validates the one TOML config file.
// Owns: the schema (schema.ts, sections/), where the file is, resolving relative paths. Never starts
// anything: a loaded Config is plain data.
import { readFileSync, existsSync } from 'node:fs';
import { resolve, dirname, isAbsolute, relative, sep } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.ts';
import { keyLines, type KeyLocator } from './locate.ts';

export type { Config } from './schema.ts';
export { configSchema } from './schema.ts';

export class ConfigError extends Error {
  readonly code = 'CONFIG';
  constructor(
    message: string,
    readonly file: string,
    readonly problems: readonly string[] = [],
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  config: Config;
  /** Absolute path of the file it came from. */
  file: string;
}

/** Which config file a command uses: --config, then $MAILSTACK_CONFIG, then ./mailstack.toml. */
export function configPath(flag: string | undefined): string {
  // An empty $MAILSTACK_CONFIG counts as unset (it would name the current directory).
  return resolve(flag ?? (process.env['MAILSTACK_CONFIG'] || 'mailstack.toml'));
}

export function loadConfig(file: string): LoadedConfig {
  const abs = resolve(file);
  if (!existsSync(abs)) {
    throw new ConfigError(`config file ${abs} does not exist: create one with \`mailstack init --dir DIR\` or pass --config FILE`, abs);
  }
  let source: string;
  try {
    source = readFileSync(abs, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'EISDIR') throw new ConfigError(`${abs} is a directory: give the config file itself (DIR/mailstack.toml) with --config FILE`, abs);
    if (code === 'EACCES' || code === 'EPERM') throw new ConfigError(`${abs} cannot be read by this user (permission denied): run mailstack as its owner, or make it readable (chmod 640 and the group)`, abs);
    throw new ConfigError(`${abs} cannot be read: ${(error as Error).message}`, abs);
  }
  return { config: parseConfig(source, abs), file: abs };
}

/** Validation problems listed one by one; beyond, a count. A file with thousands is not a config. */
const MAX_REPORTED_ISSUES = 50;

/** Parses and validates TOML text; `file` is used for messages and for resolving relative paths. */
export function parseConfig(source: string, file: string): Config {
  let raw: unknown;
  try {
    raw = parseToml(source);
  } catch (err) {
    const e = err as Error & { line?: number; column?: number };
    const where = e.line ? `${file}:${e.line}:${e.column ?? 0}` : file;
    throw new ConfigError(`${where}: not valid TOML: ${e.message.split('\n')[0]}`, file);
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const lineOf = keyLines(source);
    const all = result.error.issues.flatMap((issue) => describeIssue(issue, lineOf, file));
    const problems = all.slice(0, MAX_REPORTED_ISSUES);
    if (all.length > MAX_REPORTED_ISSUES) problems.push(`... and ${all.length - MAX_REPORTED_ISSUES} more problem(s) in the same file`);
    throw new ConfigError(`${file}: invalid config:\n  ${problems.join('\n  ')}`, file, problems);
  }
  const config = resolvePaths(result.data, dirname(file));
  checkAdminSocketPath(config, source, file);
  return config;
}

/** What mailstack keeps in the data directory (the vault file, the store, the self-signed certificate, the
 * lock of store/data-dir-lock.ts): the admin socket must never be placed on one of them. */
const DATA_DIR_ENTRIES = ['vault.json', 'store', 'tls', 'mailstack.lock'];

function checkAdminSocketPath(config: Config, source: string, file: string): void {
  const socket = config.server.admin_socket;
  if (socket === undefined) return;
  const inside = relative(config.server.data_dir, socket);
  const first = inside.split(sep)[0] ?? '';
  if (inside !== '' && !DATA_DIR_ENTRIES.includes(first)) return;
  const line = keyLines(source)(['server', 'admin_socket']);
  const what = inside === '' ? 'the data directory itself' : `inside the data directory on "${first}", where mailstack keeps its data`;
  throw new ConfigError(`${file}${line ? `:${line}` : ''}: "server.admin_socket": ${socket} is ${what}: choose another path, e.g. ${resolve(config.server.data_dir, 'admin.sock')}`, file);
}

/** One line per problem (an issue about unknown keys names each key on a line of its own). */
function describeIssue(issue: z.core.$ZodIssue, lineOf: KeyLocator, file: string): string[] {
  const path = issue.path.map((p) => String(p));
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => {
      const full = [...path, k];
      const line = lineOf(full);
      return `${file}${line ? `:${line}` : ''}: unknown key "${full.join('.')}" (check the spelling against mailstack.example.toml)`;
    });
  }
  const line = lineOf(issue.path as (string | number)[]);
  const key = path.join('.') || '(top level)';
  const missing = issue.code === 'invalid_type' && /received undefined/.test(issue.message);
  const what = missing ? 'required value is missing' : issue.message;
  return [`${file}${line ? `:${line}` : ''}: "${key}": ${what}`];
}

function resolvePaths(config: Config, base: string): Config {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  config.server.data_dir = abs(config.server.data_dir);
  if (config.server.admin_socket) config.server.admin_socket = abs(config.server.admin_socket);
  if (config.tls.cert) config.tls.cert = abs(config.tls.cert);
  if (config.tls.key) config.tls.key = abs(config.tls.key);
  if (config.log.file) config.log.file = abs(config.log.file);
  return config;
}

export function adminSocketPath(config: Config): string {
  return config.server.admin_socket ?? resolve(config.server.data_dir, 'admin.sock');
}

/** Where the store lives inside the data directory. */
export function storeDir(config: Config): string {
  return resolve(config.server.data_dir, 'store');
}
