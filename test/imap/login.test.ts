// Login rules: LOGINDISABLED before TLS, STARTTLS, LOGIN and AUTHENTICATE PLAIN (SASL-IR and not),
// failed logins (NO [AUTHENTICATIONFAILED], the event, closing after too many), locked vault.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, PASSWORD, ImapClient } from './harness.ts';
import { sessionBugs } from '../../src/imap/index.ts';

test('login rules', async (t) => {
  const h = await startHarness({ imap: { max_login_failures: 3 } });
  t.after(() => h.close());

  await t.test('before TLS: STARTTLS and LOGINDISABLED, no AUTH=, LOGIN refused', async () => {
    const c = await h.plainClient();
    assert.match(c.greeting, /^\* OK \[CAPABILITY [^\]]*STARTTLS[^\]]*LOGINDISABLED/);
    assert.doesNotMatch(c.greeting, /AUTH=/);
    const r = await c.command(`LOGIN alice@example.org "${PASSWORD}"`);
    assert.match(r.tagged, /^A1 NO \[PRIVACYREQUIRED\]/);
    const a = await c.command('AUTHENTICATE PLAIN ' + Buffer.from(`\0alice@example.org\0${PASSWORD}`).toString('base64'));
    assert.equal(a.status, 'NO');
    assert.equal(h.authFailures.length, 0, 'refusing before TLS is not a failed password');
  });

  await t.test('STARTTLS then LOGIN', async () => {
    const c = await h.plainClient();
    await c.startTls();
    const caps = await c.ok('CAPABILITY');
    assert.match(caps.untagged[0]!, /AUTH=PLAIN/);
    assert.match(caps.untagged[0]!, /SASL-IR/);
    assert.doesNotMatch(caps.untagged[0]!, /STARTTLS|LOGINDISABLED/);
    const r = await c.ok(`LOGIN alice@example.org "${PASSWORD}"`);
    assert.match(r.tagged, /\[CAPABILITY .*IMAP4rev2/);
  });

  await t.test('plain text pipelined after STARTTLS is discarded (no command injection)', async () => {
    const c = await h.plainClient();
    // the injected command would log in if it survived the handshake
    c.write(`A1 STARTTLS\r\nA2 LOGIN alice@example.org "${PASSWORD}"\r\n`);
    assert.equal((await c.until('A1')).status, 'OK');
    await c.upgrade();
    const r = await c.ok('CAPABILITY');
    assert.ok(!r.untagged.some((l) => l.startsWith('A2')), r.untagged.join('\n'));
    assert.match(r.untagged[0]!, /AUTH=PLAIN/, 'still not logged in');
    assert.match((await c.command('SELECT INBOX')).tagged, /BAD .*before login/);
  });

  await t.test('the delay after failed logins grows per connection', async () => {
    const slow = await startHarness({ imap: { login_failure_delay_ms: 150, login_failure_max_delay_ms: 1000 } });
    try {
      const c = await slow.client({ login: false });
      const t0 = Date.now();
      await c.command('LOGIN alice@example.org wrong');
      const first = Date.now() - t0;
      const t1 = Date.now();
      await c.command('LOGIN alice@example.org wrong');
      const second = Date.now() - t1;
      // lower bounds only: the configured delay, then twice it
      assert.ok(first >= 150, `first failure answered after ${first} ms`);
      assert.ok(second >= 300, `second failure answered after ${second} ms`);
    } finally {
      await slow.close();
    }
  });

  await t.test('a failed login is answered at a deadline from its arrival, however long the password check took', async () => {
    // Fake time: the check of each login advances it as a real check would (an imported hash next to the
    // cost-12 dummy of an unknown user); the delay is asked of the clock, so nothing sleeps.
    let nowMs = 0;
    const slept: number[] = [];
    const clock = {
      now: () => nowMs,
      async sleep(ms: number) {
        slept.push(ms);
        nowMs += ms;
      },
    };
    const checkMs: Record<string, number> = { 'alice@example.org': 10, 'nobody@example.org': 250 };
    const arrivals: number[] = [];
    const timed = await startHarness({
      clock,
      imap: { login_failure_delay_ms: 1000, login_failure_max_delay_ms: 1000 },
      async authenticate(_store, address) {
        arrivals.push(nowMs);
        nowMs += checkMs[address] ?? 0;
        return null;
      },
    });
    try {
      const c = await timed.client({ login: false });
      const answeredAfter: number[] = [];
      for (const account of ['alice@example.org', 'nobody@example.org']) {
        await c.command(`LOGIN ${account} wrong`);
        answeredAfter.push(nowMs - arrivals.at(-1)!);
      }
      assert.deepEqual(answeredAfter, [1000, 1000], 'known and unknown account answered alike');
      assert.deepEqual(slept, [990, 750], 'the check time is taken out of the delay, not added to it');
    } finally {
      await timed.close();
    }
  });

  await t.test('AUTHENTICATE PLAIN with an initial response, and with a continuation', async () => {
    const c = await h.client({ login: false });
    const token = Buffer.from(`\0alice@example.org\0${PASSWORD}`).toString('base64');
    await c.ok(`AUTHENTICATE PLAIN ${token}`);
    const d = await h.client({ login: false });
    d.write('B1 AUTHENTICATE PLAIN\r\n');
    assert.equal(await d.readLine(), '+ ');
    d.write(token + '\r\n');
    const r = await d.until('B1');
    assert.equal(r.status, 'OK');
    const e = await h.client({ login: false });
    e.write('C1 AUTHENTICATE PLAIN\r\n');
    await e.readLine();
    e.write('*\r\n');
    assert.equal((await e.until('C1')).status, 'BAD');
  });

  await t.test('wrong password: NO [AUTHENTICATIONFAILED], event emitted, closed after too many', async () => {
    const before = h.authFailures.length;
    const c = await h.client({ login: false });
    const r = await c.command('LOGIN alice@example.org wrong');
    assert.match(r.tagged, /^A1 NO \[AUTHENTICATIONFAILED\]/);
    assert.equal(h.authFailures.length, before + 1);
    assert.deepEqual({ ...h.authFailures[before]!, remoteAddress: 'x' }, { protocol: 'imap', listener: 'imaps', remoteAddress: 'x', account: 'alice@example.org' });
    await c.command('LOGIN nobody@example.org wrong');
    c.write('A3 LOGIN alice@example.org wrong\r\n');
    const lines: string[] = [];
    try {
      for (;;) lines.push(await c.readLine());
    } catch {
      // closed
    }
    assert.ok(lines.some((l) => /^\* BYE/.test(l)), lines.join('\n'));
    assert.equal(h.authFailures.length, before + 3);
  });

  await t.test('commands need the right state', async () => {
    const c = await h.client({ login: false });
    assert.match((await c.command('SELECT INBOX')).tagged, /^A1 BAD .*before login/);
    await c.ok(`LOGIN alice@example.org "${PASSWORD}"`);
    assert.match((await c.command('FETCH 1 FLAGS')).tagged, /BAD .*selected mailbox/);
    assert.match((await c.command(`LOGIN alice@example.org "${PASSWORD}"`)).tagged, /BAD/);
  });

  await t.test('locked vault: BYE [UNAVAILABLE]', async () => {
    h.setLocked(true);
    try {
      const c = await ImapClient.connectTls(h.tlsPort);
      assert.match(c.greeting, /^\* BYE \[UNAVAILABLE\]/);
      assert.ok(await c.closedByServer());
    } finally {
      h.setLocked(false);
    }
  });

  await t.test('access control: refused at accept, login delay asked per source and account', async () => {
    const asked: [string, string][] = [];
    let admit = true;
    const guarded = await startHarness({
      guard: {
        admit: () => admit,
        loginDelayMs: (addr, account) => {
          asked.push([addr, account]);
          return 0;
        },
      },
    });
    try {
      const c = await guarded.client({ login: false });
      await c.command('LOGIN alice@example.org wrong');
      assert.deepEqual(asked.map(([, a]) => a), ['alice@example.org']);
      assert.match(asked[0]![0], /127\.0\.0\.1/);
      admit = false;
      await assert.rejects(guarded.client({ login: false }));
    } finally {
      await guarded.close();
    }
  });

  await t.test('LOGOUT', async () => {
    const c = await h.client();
    const r = await c.ok('LOGOUT');
    assert.match(r.untagged[0]!, /^\* BYE/);
  });

  assert.equal(sessionBugs.count, 0);
});
