// Access control at accept time, over real sockets from different loopback source addresses that the
// hand-made GeoLite2 fixture maps to countries (see test/fixtures/geoip/README.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessConfig, captureLog, connectFrom, greets, guardFor, importFixture, makeEnv, startGuarded, type Env, type TestServer } from './harness.ts';
import { createAccessControl, type AccessControl } from '../../src/access/index.ts';
import { silentLogger } from '../../src/log/index.ts';

const DE = '127.0.0.10';
const AT = '127.0.0.11';
const CN = '127.0.0.20';
const US = '127.0.0.21';

const POLICY = `
[access]
exempt_loopback = false
admin_networks = ["127.0.0.50/32"]
client_countries = ["DE", "AT", "CH", "NL", "LU", "FR"]
max_connections_per_source = 10

[access.listeners.imap]
max_new_connections = 3
rate_interval_s = 30
`;

interface Setup {
  env: Env;
  guard: AccessControl;
  imap: TestServer;
  submission: TestServer;
  smtp: TestServer;
  done(): Promise<void>;
}

async function setup(policy = POLICY, withGeo = true): Promise<Setup> {
  const env = await makeEnv();
  if (withGeo) await importFixture(env.store);
  const guard = guardFor(env, accessConfig(policy));
  await guard.reload();
  const [imap, submission, smtp] = await Promise.all([startGuarded(guard, 'imap'), startGuarded(guard, 'submission'), startGuarded(guard, 'smtp')]);
  return {
    env,
    guard,
    imap,
    submission,
    smtp,
    async done() {
      await Promise.all([imap.close(), submission.close(), smtp.close()]);
      await guard.close();
      await env.cleanup();
    },
  };
}

test('an allowed country gets the greeting, a refused one a closed connection, and port 25 greets both', async () => {
  const s = await setup();
  try {
    assert.equal(await greets(s.imap.port, DE), true, 'DE on imap');
    assert.equal(await greets(s.imap.port, AT), true, 'AT on imap');
    assert.equal(await greets(s.imap.port, CN), false, 'CN on imap');
    assert.equal(await greets(s.submission.port, US), false, 'US on submission');
    assert.equal(await greets(s.imap.port, '127.0.0.23'), false, 'no country known on imap');
    assert.equal(await greets(s.smtp.port, DE), true, 'DE on smtp');
    assert.equal(await greets(s.smtp.port, CN), true, 'CN on smtp');
    assert.equal(await greets(s.smtp.port, '127.0.0.23'), true, 'unknown on smtp');
  } finally {
    await s.done();
  }
});

test('without a GeoIP database the country lists are not enforced', async () => {
  const s = await setup(POLICY, false);
  try {
    assert.equal(await greets(s.imap.port, CN), true);
    assert.equal(s.guard.status().geoip, null);
  } finally {
    await s.done();
  }
});

test('per-listener CIDR and country lists: allow_cidrs admits outside the countries, deny lists win', async () => {
  const s = await setup(`${POLICY}
[access.listeners.submission]
allow_cidrs = ["127.0.0.20/32"]
deny_countries = ["AT"]
deny_cidrs = ["127.0.0.12/31"]
`);
  try {
    assert.equal(await greets(s.submission.port, CN), true, 'CN allowed by allow_cidrs');
    assert.equal(await greets(s.submission.port, DE), true, 'DE allowed by client_countries');
    assert.equal(await greets(s.submission.port, AT), false, 'AT denied by deny_countries');
    assert.equal(await greets(s.submission.port, '127.0.0.12'), false, 'CH denied by deny_cidrs');
    assert.equal(await greets(s.submission.port, US), false, 'US not allowed');
  } finally {
    await s.done();
  }
});

test('a source opening more than 3 connections in 30 s is banned and its open sessions are closed on every listener', async () => {
  const s = await setup();
  try {
    const attacker = '127.0.0.65'; // DE, allowed
    const onSubmission = await connectFrom(s.submission.port, attacker);
    assert.ok(onSubmission.greeted);
    const first = [];
    for (let i = 0; i < 3; i++) first.push(await connectFrom(s.imap.port, attacker));
    assert.ok(first.every((c) => c.greeted), 'three connections are fine');
    const bystander = await connectFrom(s.imap.port, DE);
    assert.ok(bystander.greeted);

    const fourth = await connectFrom(s.imap.port, attacker);
    assert.equal(fourth.greeted, false, 'the fourth connection within 30 s is refused');
    await Promise.all([...first.map((c) => c.closed), onSubmission.closed]); // flushed, on imap and submission
    assert.equal(bystander.socket.destroyed, false, 'another source keeps its session');
    assert.equal(await greets(s.submission.port, attacker), false, 'banned on the other client listener');
    assert.equal(await greets(s.smtp.port, attacker), true, 'port 25 still greets');
    const bans = s.guard.listBans();
    assert.deepEqual(bans.map((b) => b.target), [attacker]);
    assert.match(bans[0]!.reason, /more than 3 connections in 30s on imap/);
    bystander.socket.destroy();
  } finally {
    await s.done();
  }
});

test('connections spread over more than the interval are not a rate violation', async () => {
  const s = await setup();
  try {
    for (let i = 0; i < 6; i++) {
      assert.equal(await greets(s.imap.port, '127.0.0.66'), true, `connection ${i}`);
      s.env.clock.now += 11_000;
    }
    assert.deepEqual(s.guard.listBans(), []);
  } finally {
    await s.done();
  }
});

test('concurrent connections over max_connections_per_source are refused, not banned', async () => {
  const s = await setup(POLICY.replace('max_connections_per_source = 10', 'max_connections_per_source = 2'));
  try {
    const a = await connectFrom(s.submission.port, '127.0.0.67');
    const b = await connectFrom(s.submission.port, '127.0.0.67');
    assert.ok(a.greeted && b.greeted);
    assert.equal(await greets(s.submission.port, '127.0.0.67'), false);
    a.socket.destroy();
    await a.closed;
    // The server side sees the close a moment later: wait until it untracked the socket.
    while (s.submission.open.size > 1) await new Promise((r) => setImmediate(r));
    assert.equal(await greets(s.submission.port, '127.0.0.67'), true, 'a slot freed up');
    assert.deepEqual(s.guard.listBans(), []);
    b.socket.destroy();
  } finally {
    await s.done();
  }
});

test('5 failed logins ban the source on every client listener, but not on port 25', async () => {
  const s = await setup();
  try {
    const source = '127.0.0.68';
    const open = await connectFrom(s.imap.port, source);
    for (let i = 0; i < 4; i++) s.env.events.emit('auth-failure', { protocol: 'imap', listener: 'imap', remoteAddress: source, account: `user${i}@example.test` });
    assert.deepEqual(s.guard.listBans(), [], 'four failures are not enough');
    s.env.events.emit('auth-failure', { protocol: 'submission', listener: 'submission', remoteAddress: `::ffff:${source}`, account: 'root@example.test' });
    await open.closed;
    assert.equal(await greets(s.imap.port, source), false);
    assert.equal(await greets(s.submission.port, source), false);
    assert.equal(await greets(s.smtp.port, source), true);
    assert.match(s.guard.listBans()[0]!.reason, /5 failed logins/);
  } finally {
    await s.done();
  }
});

test('failures outside the window do not add up', async () => {
  const s = await setup();
  try {
    for (let i = 0; i < 8; i++) {
      s.env.events.emit('auth-failure', { protocol: 'imap', listener: 'imap', remoteAddress: '127.0.0.69', account: 'a@example.test' });
      s.env.clock.now += 200_000; // 600 s window: at most 3 in a window
    }
    assert.deepEqual(s.guard.listBans(), []);
  } finally {
    await s.done();
  }
});

test('a ban survives a restart and expires', async () => {
  const s = await setup();
  const source = '127.0.0.70';
  try {
    for (let i = 0; i < 5; i++) s.env.events.emit('auth-failure', { protocol: 'imap', listener: 'imap', remoteAddress: source, account: 'x@example.test' });
    assert.equal(await greets(s.imap.port, source), false);
    await s.guard.close(); // waits for the ban to be written
    await Promise.all([s.imap.close(), s.submission.close(), s.smtp.close()]);

    // Restart: reopen the store, a new access control, a new listener.
    await s.env.reopen();
    const guard = guardFor(s.env, accessConfig(POLICY));
    const loaded = await guard.reload();
    assert.equal(loaded.bans, 1);
    assert.ok(loaded.geoip && loaded.geoip.countries >= 8, 'the GeoIP table came back from the vault');
    const imap = await startGuarded(guard, 'imap');
    try {
      assert.equal(await greets(imap.port, source), false, 'still banned after the restart');
      const [ban] = guard.listBans();
      assert.equal(ban!.count, 1);
      assert.equal(ban!.expiresAt - ban!.createdAt, 3600_000);
      s.env.clock.now = ban!.expiresAt + 1;
      assert.equal(await greets(imap.port, source), true, 'admitted once the ban expired');
      assert.deepEqual(guard.listBans(), []);
      assert.deepEqual(await s.env.store.bans.list(s.env.clock.now), [], 'the store agrees');
    } finally {
      await imap.close();
      await guard.close();
    }
  } finally {
    await s.env.cleanup();
  }
});

test('repeat offenders get longer bans (ban.count grows)', async () => {
  const s = await setup();
  try {
    const source = '127.0.0.71';
    const fail = () => s.env.events.emit('auth-failure', { protocol: 'imap', listener: 'imap', remoteAddress: source, account: 'x@example.test' });
    for (let i = 0; i < 5; i++) fail();
    const first = s.guard.listBans()[0]!;
    s.env.clock.now = first.expiresAt + 1;
    for (let i = 0; i < 5; i++) fail();
    const second = s.guard.listBans()[0]!;
    assert.equal(second.count, 2);
    assert.equal(second.expiresAt - second.createdAt, 4 * 3600_000);
    await s.guard.close();
    const stored = await s.env.store.bans.get(source);
    assert.equal(stored?.count, 2);
  } finally {
    await s.done();
  }
});

test('the admin network is never refused, limited or banned', async () => {
  const s = await setup(`${POLICY}\n[access.listeners.submission]\nallow_countries = ["DE"]\n`);
  try {
    const admin = '127.0.0.50'; // no country in the fixture: refused if it were not exempt
    for (let i = 0; i < 10; i++) s.env.events.emit('auth-failure', { protocol: 'imap', listener: 'imap', remoteAddress: admin, account: 'admin@example.test' });
    const conns = [];
    for (let i = 0; i < 6; i++) conns.push(await connectFrom(s.imap.port, admin));
    assert.ok(conns.every((c) => c.greeted), 'no rate limit, no ban');
    assert.equal(await greets(s.submission.port, admin), true, 'no country check');
    assert.deepEqual(s.guard.listBans(), []);
    assert.equal(s.guard.loginDelayMs(admin, 'admin@example.test'), 0);
    await assert.rejects(s.guard.ban(admin, 'test'), { name: 'AccessError', code: 'exempt' });
    await assert.rejects(s.guard.ban('127.0.0.50/32', 'test'), { code: 'exempt' });
    // A wider ban is allowed, and the admin stays admitted.
    await s.guard.ban('127.0.0.0/24', 'test', 60_000);
    assert.equal(await greets(s.imap.port, admin), true);
    assert.equal(await greets(s.imap.port, DE), false);
    for (const c of conns) c.socket.destroy();
  } finally {
    await s.done();
  }
});

test('an account attacked from many sources is slowed, never locked', async () => {
  const s = await setup();
  try {
    const account = 'owner@example.test';
    for (let i = 0; i < 40; i++) {
      s.env.events.emit('auth-failure', { protocol: 'imap', listener: 'imap', remoteAddress: `127.0.3.${i}`, account });
    }
    // No single source reached 5 failures: no bans; the owner from an allowed address is admitted...
    assert.deepEqual(s.guard.listBans(), []);
    assert.equal(await greets(s.imap.port, '127.0.1.5'), true);
    // ...and only slowed, with a bounded delay; another account is not slowed.
    const delay = s.guard.loginDelayMs('127.0.1.5', account);
    assert.ok(delay > 0 && delay <= 15_000, `delay ${delay}`);
    assert.equal(s.guard.loginDelayMs('127.0.1.5', 'other@example.test'), 0);
    // A source's own failures slow it too.
    s.env.events.emit('auth-failure', { protocol: 'imap', listener: 'imap', remoteAddress: '127.0.1.6', account: 'other@example.test' });
    assert.equal(s.guard.loginDelayMs('127.0.1.6', 'other@example.test'), 1000);
    s.env.clock.now += 601_000;
    assert.equal(s.guard.loginDelayMs('127.0.1.5', account), 0, 'the window passed');
  } finally {
    await s.done();
  }
});

test('refused connections are logged, at most max_refusal_logs_per_minute lines, then one summary', async () => {
  const env = await makeEnv();
  await importFixture(env.store);
  const { log, lines } = captureLog();
  const guard = guardFor(env, accessConfig(POLICY.replace('[access]', '[access]\nmax_refusal_logs_per_minute = 5')), log);
  await guard.reload();
  const imap = await startGuarded(guard, 'imap');
  try {
    for (let i = 0; i < 30; i++) assert.equal(await greets(imap.port, CN), false);
    const refused = lines.filter((l) => l['event'] === 'access-refused');
    assert.equal(refused.length, 5);
    assert.equal(refused[0]!['reason'], 'not_allowed');
    assert.equal(refused[0]!['country'], 'CN');
    assert.equal(refused[0]!['listener'], 'imap');
    env.clock.now += 61_000;
    assert.equal(await greets(imap.port, CN), false);
    const summary = lines.find((l) => l['event'] === 'access-refusals-suppressed');
    assert.equal(summary?.['count'], 25);
  } finally {
    await imap.close();
    await guard.close();
    await env.cleanup();
  }
});

test('IPv6 sources are looked up by country and banned per /64', async () => {
  const env = await makeEnv();
  await importFixture(env.store);
  const guard = guardFor(env, accessConfig(POLICY));
  await guard.reload();
  try {
    assert.equal(guard.country('2001:db8:de::1'), 'DE');
    assert.equal(guard.country('2001:db8:c4:0:8000::1'), 'US');
    assert.equal(guard.country('2001:db8:c4:0:7fff::1'), 'CN');
    assert.equal(guard.country('2001:db8:c4:1::1'), null);
    for (let i = 0; i < 5; i++) env.events.emit('auth-failure', { protocol: 'imap', listener: 'imap', remoteAddress: `2001:db8:de:1::${i + 1}`, account: 'x@example.test' });
    assert.deepEqual(guard.listBans().map((b) => b.target), ['2001:db8:de:1::/64']);
  } finally {
    await guard.close();
    await env.cleanup();
  }
});

test('admin handlers add, list, delete and flush bans; a ban closes open sessions', async () => {
  const s = await setup();
  try {
    const c = await connectFrom(s.imap.port, DE);
    const added = (await s.guard.adminHandlers['ban.add']!({ target: `::ffff:${DE}`, reason: 'manual', durationMs: 0 })) as { target: string; expiresAt: number };
    assert.equal(added.target, DE);
    assert.equal(added.expiresAt, 0);
    await c.closed;
    assert.equal(((await s.guard.adminHandlers['ban.list']!({})) as unknown[]).length, 1);
    assert.equal(await s.guard.adminHandlers['ban.del']!({ target: DE }), true);
    assert.equal(await greets(s.imap.port, DE), true);
    await s.guard.ban('127.0.0.11', 'x');
    await s.guard.ban('198.51.100.0/24', 'x');
    assert.equal(await s.guard.adminHandlers['ban.flush']!({}), 2);
    assert.deepEqual(await s.env.store.bans.list(s.env.clock.now), []);
    await assert.rejects(s.guard.adminHandlers['ban.add']!({ target: 'nonsense' }), { code: 'invalid' });
    const lookup = (await s.guard.adminHandlers['geoip.lookup']!({ address: '192.0.2.200' })) as { country: string };
    assert.equal(lookup.country, 'LU');
  } finally {
    await s.done();
  }
});

test('bans made while the vault is locked hold in memory and are written at unlock', async () => {
  const env = await makeEnv();
  let locked = true;
  const guard = createAccessControl({ config: accessConfig(POLICY), store: () => (locked ? null : env.store), log: silentLogger(), events: env.events, now: () => env.clock.now });
  const imap = await startGuarded(guard, 'imap');
  try {
    for (let i = 0; i < 5; i++) env.events.emit('auth-failure', { protocol: 'imap', listener: 'imap', remoteAddress: '127.0.0.74', account: 'x@example.test' });
    assert.equal(await greets(imap.port, '127.0.0.74'), false, 'banned at once, store or not');
    await assert.rejects(guard.reload(), { name: 'AccessError', code: 'locked' });
    assert.equal(await env.store.bans.get('127.0.0.74'), null);
    locked = false;
    const loaded = await guard.reload();
    assert.equal(loaded.bans, 1);
    assert.equal((await env.store.bans.get('127.0.0.74'))?.count, 1);
  } finally {
    await imap.close();
    await guard.close();
    await env.cleanup();
  }
});

test('an unreadable stored GeoIP table does not stop the reload (the bans still load)', async () => {
  const env = await makeEnv();
  await env.store.secrets.put('access/geoip', Buffer.from('MSGEOIP1 but then garbage'));
  await env.store.bans.put({ target: '192.0.2.1', reason: 'x', createdAt: env.clock.now, expiresAt: 0, count: 1 });
  const { log, lines } = captureLog();
  const guard = guardFor(env, accessConfig(POLICY), log);
  try {
    const loaded = await guard.reload();
    assert.equal(loaded.bans, 1);
    assert.equal(loaded.geoip, null);
    assert.ok(lines.some((l) => l['event'] === 'geoip-unreadable'));
  } finally {
    await guard.close();
    await env.cleanup();
  }
});
