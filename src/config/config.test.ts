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

test('values that would break serve are refused at load, naming the key and its line', () => {
  const cases: { toml: string; key: string; line: number; why: RegExp }[] = [
    { toml: '[dns]\nupstream = ["banana"]', key: 'dns.upstream.0', line: 4, why: /expected a resolver's address/ },
    { toml: '[dns]\nupstream = ["192.0.2.1:99999"]', key: 'dns.upstream.0', line: 4, why: /expected a resolver's address/ },
    { toml: 'trusted_networks = ["not a cidr"]', key: 'server.trusted_networks.0', line: 3, why: /expected an address or CIDR/ },
    { toml: 'trusted_networks = ["10.0.0.0/33"]', key: 'server.trusted_networks.0', line: 3, why: /expected an address or CIDR/ },
    { toml: 'admin_socket = ""', key: 'server.admin_socket', line: 3, why: /expected a path/ },
    { toml: '[tls]\ncert = "cert.pem"', key: 'tls.key', line: 3, why: /tls\.cert is set but tls\.key is missing/ },
    { toml: '[tls]\nkey = "key.pem"', key: 'tls.cert', line: 3, why: /tls\.key is set but tls\.cert is missing/ },
    { toml: 'hostname = "my mail server\\r\\n554 injected"', key: 'server.hostname', line: 3, why: /expected a domain name/ },
    { toml: 'hostname = "mail..example.com"', key: 'server.hostname', line: 3, why: /expected a domain name/ },
  ];
  for (const c of cases) {
    const source = `[server]\ndata_dir = "d"\n${c.toml}\n`;
    const found = problems(source).join('\n');
    assert.match(found, new RegExp(`:${c.line}: "${c.key.replace(/\./g, '\\.')}": `), `${c.toml}: ${found}`);
    assert.match(found, c.why, c.toml);
  }
});

test('host names, address literals and networks that are valid stay accepted', () => {
  const config = parseConfig(
    '[server]\ndata_dir = "d"\nhostname = "mx-1.example.com"\ntrusted_networks = ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"]\n[dns]\nupstream = ["192.0.2.53", "192.0.2.53:5353", "[2001:db8::53]:53", "2001:db8::53"]\n[tls]\ncert = "c.pem"\nkey = "k.pem"\n',
    FILE,
  );
  assert.equal(config.server.hostname, 'mx-1.example.com');
  assert.equal(parseConfig('[server]\ndata_dir = "d"\nhostname = "[IPv6:2001:db8::1]"\n', FILE).server.hostname, '[IPv6:2001:db8::1]');
  assert.equal(parseConfig('[server]\ndata_dir = "d"\nhostname = "[192.0.2.1]"\n', FILE).server.hostname, '[192.0.2.1]');
});
