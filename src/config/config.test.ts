import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, ConfigError } from './index.ts';

const FILE = '/etc/mailstack/mailstack.toml';

function problems(source: string): string[] {
  try {
    parseConfig(source, FILE);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return [...err.problems, err.message];
  }
  assert.fail('the config was accepted');
}

test('a minimal config is valid and fills in defaults', () => {
  const config = parseConfig('[server]\ndata_dir = "data"\n', FILE);
  assert.equal(config.server.data_dir, '/etc/mailstack/data');
  assert.equal(config.log.level, 'info');
  assert.deepEqual(config.smtp.listen, []);
  assert.deepEqual(config.server.trusted_networks, ['127.0.0.0/8', '::1/128']);
});

test('an unknown key is refused with its name and line', () => {
  const [first] = problems('[server]\ndata_dir = "d"\n\n[imap]\nlisten = []\nlisten_tsl = ["0.0.0.0:993"]\n');
  assert.match(first!, /:6: unknown key "imap\.listen_tsl"/);
});

test('an unknown table is refused', () => {
  const [first] = problems('[server]\ndata_dir = "d"\n[smpt]\nlisten = []\n');
  assert.match(first!, /unknown key "smpt"/);
});

test('a wrong type is refused with the key and line', () => {
  const [first] = problems('[server]\ndata_dir = "d"\n[dns]\ntimeout_ms = "5s"\n');
  assert.match(first!, /:4: "dns\.timeout_ms": .*expected number/);
});

test('a missing required value is named', () => {
  const [first] = problems('[server]\nhostname = "mx.example.org"\n');
  assert.match(first!, /:1: "server\.data_dir": required value is missing/);
});

test('a bad listen address says what is expected', () => {
  const [first] = problems('[server]\ndata_dir = "d"\n[smtp]\nlisten = ["25"]\n');
  assert.match(first!, /:4: "smtp\.listen\.0": expected "host:port"/);
});

test('TOML syntax errors carry the line and column', () => {
  const all = problems('[server]\ndata_dir = = "d"\n');
  assert.match(all.at(-1)!, /mailstack\.toml:2:\d+: not valid TOML/);
});

test('an unknown or misshapen table is refused with the line of its header', () => {
  assert.match(problems('[server]\ndata_dir = "x"\n[bogus]\na = 1\n')[0]!, /:3: unknown key "bogus"/);
  assert.match(problems('[server]\ndata_dir = "x"\n[smtp]\nlisten = []\n\n\n[smtp.foo]\nbar = 1\n')[0]!, /:7: unknown key "smtp\.foo"/);
  assert.match(problems('[server]\ndata_dir = "x"\n\n[[smtp]]\nlisten = []\n')[0]!, /:4: "smtp": /);
});

test('a config with thousands of errors is reported in linear time, the first 50 one by one', () => {
  const source = '[server]\ndata_dir = "x"\n' + Array.from({ length: 20_000 }, (_, i) => `k${i} = 1\n`).join('');
  const start = performance.now();
  const found = problems(source);
  assert.ok(performance.now() - start < 5000, 'bounded time');
  assert.match(found[0]!, /:3: unknown key "server\.k0"/);
  assert.match(found[49]!, /:52: unknown key "server\.k49"/);
  assert.match(found[50]!, /\.\.\. and 19950 more/);
});

test('a config path that is a directory is named as such', async () => {
  const { loadConfig } = await import('./index.ts');
  assert.throws(() => loadConfig('/tmp'), (err: unknown) => err instanceof ConfigError && /\/tmp is a directory: give the config file itself/.test(err.message));
});
