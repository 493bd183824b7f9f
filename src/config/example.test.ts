import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { generateExample, EXAMPLE_FILE } from '../../scripts/gen-example-config.ts';
import { parseConfig, configSchema } from './index.ts';

test('mailstack.example.toml documents the current schema (regenerate with scripts/gen-example-config.ts)', () => {
  assert.equal(readFileSync(EXAMPLE_FILE, 'utf8'), generateExample());
});

test('mailstack.example.toml is itself a valid config with every table', () => {
  const config = parseConfig(readFileSync(EXAMPLE_FILE, 'utf8'), EXAMPLE_FILE);
  const tables = Object.keys((configSchema as unknown as { shape: Record<string, unknown> }).shape);
  for (const table of tables) assert.ok(table in config, `table [${table}] missing`);
  assert.match(readFileSync(EXAMPLE_FILE, 'utf8'), /^# \[access\.listeners\.NAME\]$/m);
});
