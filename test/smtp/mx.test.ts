// The inbound MX listener, driven over real sockets: delivery, aliases, restrictions, relay attempts,
// ESMTP extensions, size limit, locked store. Line-level client for exact codes; nodemailer, swaks and
// Python's smtplib as real clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connect as netConnect } from 'node:net';
import { createTransport } from 'nodemailer';
import { SmtpClient } from './client.ts';
import { HOSTNAME, message, withSmtpHarness, type SmtpHarness } from './harness.ts';
import { MAX_ALIAS_EXPANSION } from '../../src/accounts/index.ts';

const run = promisify(execFile);

const withHarness = withSmtpHarness;

/** Opens a session up to a successful MAIL FROM. */
async function session(h: SmtpHarness, from = 'someone@sender.test', helo = 'client.sender.test'): Promise<SmtpClient> {
  const c = await SmtpClient.connect(h.mx);
  assert.equal((await c.reply()).code, 220);
  assert.equal((await c.send(`EHLO ${helo}`)).code, 250);
  const mail = await c.send(`MAIL FROM:<${from}>`);
  assert.equal(mail.code, 250, mail.text);
  return c;
}

test('nodemailer delivers to a mailbox; trace fields and Authentication-Results are added', async () => {
  await withHarness({}, async (h) => {
    const transport = createTransport({ host: h.mx.host, port: h.mx.port, secure: false, tls: { rejectUnauthorized: false }, name: 'client.sender.test' });
    const info = await transport.sendMail({ envelope: { from: 'someone@sender.test', to: ['alice@example.org'] }, raw: message({ subject: 'via nodemailer' }) });
    assert.match(info.response, /^250 2\.0\.0 /);
    const [stored] = await h.messages('alice@example.org');
    assert.ok(stored, 'message stored in INBOX');
    const text = stored.toString();
    const header = text.slice(0, text.indexOf('\r\n\r\n'));
    assert.match(header, /^Return-Path: <someone@sender\.test>\r\n/);
    assert.match(header, /\r\nDelivered-To: alice@example\.org\r\n/);
    assert.match(header, new RegExp(`Received: from client\\.sender\\.test \\(unknown \\[127\\.0\\.0\\.1\\]\\)\\r\\n\\t\\(using TLSv1\\.[23] with cipher [A-Z0-9_-]+\\)\\r\\n\\tby ${HOSTNAME.replace(/\./g, '\\.')} \\(mailstack\\) with ESMTPS id `));
    assert.match(header, new RegExp(`Authentication-Results: ${HOSTNAME.replace(/\./g, '\\.')};`));
    assert.match(text, /Subject: via nodemailer/);
    transport.close();
  });
});

test('aliases (one-to-many), catch-all and +tag reach the right users', async () => {
  await withHarness({}, async (h) => {
    const c = await session(h);
    for (const rcpt of ['team@example.org', 'anything@example.net', 'alice+news@example.org']) {
      const r = await c.send(`RCPT TO:<${rcpt}>`);
      assert.equal(r.code, 250, `${rcpt}: ${r.text}`);
    }
    const r = await c.data(message({ subject: 'aliases' }));
    assert.equal(r.code, 250, r.text);
    await c.quit();
    assert.equal((await h.messages('alice@example.org')).length, 1, 'alice once, though reached twice');
    assert.equal((await h.messages('bob@example.org')).length, 1);
    assert.equal((await h.messages('carol@example.net')).length, 1);
    // Several users share one stored copy: no Delivered-To can name them all.
    assert.doesNotMatch((await h.messages('bob@example.org'))[0]!.toString(), /Delivered-To:/);
  });
});

test('unknown local recipient refused at RCPT with 550 5.1.1; nothing stored', async () => {
  await withHarness({}, async (h) => {
    const c = await session(h);
    const r = await c.send('RCPT TO:<nobody@example.org>');
    assert.equal(r.code, 550);
    assert.equal(r.enhanced, '5.1.1');
    assert.equal((await c.send('DATA')).code, 503, 'no valid recipient, no DATA');
    await c.quit();
    assert.equal(await h.totalMessages(), 0);
  });
});

test('an alias over the expansion limit refused at RCPT with 451 4.6.0 saying so; the other recipients are not affected', async () => {
  await withHarness({}, async (h) => {
    await h.store.accounts.addAlias('everyone@example.org', 'bob@example.org');
    for (let i = 0; i < MAX_ALIAS_EXPANSION; i++) await h.store.accounts.addAlias('everyone@example.org', `m${i}@remote.test`);
    const c = await session(h);
    const r = await c.send('RCPT TO:<everyone@example.org>');
    assert.equal(r.code, 451, r.text);
    assert.equal(r.enhanced, '4.6.0');
    assert.match(r.text, new RegExp(`<everyone@example\\.org>: Alias expansion error: the aliases of everyone@example\\.org expand to more than ${MAX_ALIAS_EXPANSION} addresses`));
    assert.equal((await c.send('RCPT TO:<alice@example.org>')).code, 250);
    assert.equal((await c.data(message({ subject: 'to the list' }))).code, 250);
    await c.quit();
    assert.equal((await h.messages('alice@example.org')).length, 1);
    assert.equal((await h.messages('bob@example.org')).length, 0, 'no part of the list got it');
    assert.deepEqual(h.queued, [], 'nor any of its forwards');
  });
});

test('relay attempts refused: remote domain, % and ! routing, quoted local part, source route', async () => {
  await withHarness({}, async (h) => {
    const c = await session(h);
    const attempts = ['victim@remote.test', 'victim%remote.test@example.org', 'remote.test!victim@example.org', '"victim@remote.test"@example.org', '@example.org:victim@remote.test'];
    for (const rcpt of attempts) {
      const r = await c.send(`RCPT TO:<${rcpt}>`);
      assert.ok(r.code >= 500 && r.code < 600, `${rcpt} must be refused, got ${r.lines.join(' | ')}`);
      if (r.code === 554) assert.equal(r.enhanced, '5.7.1', rcpt);
    }
    await c.quit();
    assert.equal(h.queued.length, 0, 'nothing queued for relay');
  });
});

test('HELO restrictions: non-FQDN 504 5.5.2, invalid 501 5.5.2; valid HELO and address literal pass', async () => {
  await withHarness({}, async (h) => {
    for (const [helo, code] of [
      ['localhost', 504],
      ['bad_name!', 501],
      ['[192.0.2.1]', 250],
      ['client.sender.test', 250],
    ] as const) {
      const c = await SmtpClient.connect(h.mx);
      await c.reply();
      await c.send(`EHLO ${helo}`);
      const r = await c.send('MAIL FROM:<someone@sender.test>');
      assert.equal(r.code, code, `${helo}: ${r.text}`);
      if (code !== 250) assert.equal(r.enhanced, '5.5.2');
      await c.quit();
    }
  });
});

test('MAIL before HELO is refused', async () => {
  await withHarness({}, async (h) => {
    const c = await SmtpClient.connect(h.mx);
    await c.reply();
    const r = await c.send('MAIL FROM:<someone@sender.test>');
    assert.equal(r.code, 503);
    await c.quit();
  });
});

test('sender restrictions: non-FQDN 504, unknown domain 550 5.1.8, DNS failure 450 4.1.8, null sender passes', async () => {
  await withHarness({}, async (h) => {
    h.dns.fail('broken.test', 'servfail');
    h.dns.set('aonly.test', 'A', ['192.0.2.20']);
    for (const [from, code, enhanced] of [
      ['user@localhost', 504, '5.5.2'],
      ['user@nonexistent.test', 550, '5.1.8'],
      ['user@broken.test', 450, '4.1.8'],
      ['user@aonly.test', 250, null],
      ['', 250, null],
    ] as const) {
      const c = await SmtpClient.connect(h.mx);
      await c.reply();
      await c.send('EHLO client.sender.test');
      const r = await c.send(`MAIL FROM:<${from}>`);
      assert.equal(r.code, code, `${from}: ${r.text}`);
      if (enhanced) assert.equal(r.enhanced, enhanced, from);
      await c.quit();
    }
  });
});

test('non-FQDN recipient 504 5.5.2', async () => {
  await withHarness({}, async (h) => {
    const c = await session(h);
    const r = await c.send('RCPT TO:<alice@example>');
    assert.equal(r.code, 504);
    assert.equal(r.enhanced, '5.5.2');
    await c.quit();
  });
});

test('restrictions can be turned off one by one', async () => {
  await withHarness({ config: { smtp: { reject_non_fqdn_helo: false, reject_unknown_sender_domain: false } } }, async (h) => {
    const c = await SmtpClient.connect(h.mx);
    await c.reply();
    await c.send('EHLO localhost');
    assert.equal((await c.send('MAIL FROM:<user@nonexistent.test>')).code, 250);
    await c.quit();
  });
});

test('reject_unknown_reverse_client: off by default, 550 5.7.25 when on and no PTR', async () => {
  await withHarness({ config: { smtp: { reject_unknown_reverse_client: true } } }, async (h) => {
    const c = await session(h);
    const r = await c.send('RCPT TO:<alice@example.org>');
    assert.equal(r.code, 550);
    assert.equal(r.enhanced, '5.7.25');
    await c.quit();
    h.dns.set('127.0.0.1', 'PTR', ['localhost.sender.test']);
    h.resolver.clearCache();
    const d = await session(h);
    const ok = await d.send("RCPT TO:<alice@example.org>");
    assert.equal(ok.code, 250, ok.text);
    await d.quit();
  });
});

test('trusted networks relay without AUTH (to the queue) and skip the restrictions', async () => {
  await withHarness({ config: { server: { trusted_networks: ['127.0.0.0/8'] } } }, async (h) => {
    const c = await session(h, 'user@localhost', 'localhost');
    assert.equal((await c.send('RCPT TO:<friend@remote.test>')).code, 250);
    assert.equal((await c.send('RCPT TO:<bob@example.org>')).code, 250);
    assert.equal((await c.send('RCPT TO:<nobody@example.org>')).code, 550, 'unknown local users are refused even for trusted clients');
    assert.equal((await c.data(message())).code, 250);
    await c.quit();
    assert.equal(h.queued.length, 1);
    assert.deepEqual(h.queued[0]!.recipients, ['friend@remote.test']);
    assert.equal((await h.messages('bob@example.org')).length, 1);
    // Queued by the store call that stored bob's copy (one transaction), not by a second call after it.
    assert.deepEqual((await h.store.queue.list()).map((e) => e.recipients.map((r) => r.address)), [['friend@remote.test']]);
  });
});

test('EHLO on 25 offers PIPELINING, SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, STARTTLS and no AUTH; AUTH refused', async () => {
  await withHarness({}, async (h) => {
    const c = await SmtpClient.connect(h.mx);
    await c.reply();
    const ehlo = await c.send('EHLO client.sender.test');
    const caps = ehlo.lines.map((l) => l.slice(4).split(' ')[0]);
    for (const cap of ['PIPELINING', 'SIZE', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'STARTTLS']) assert.ok(caps.includes(cap), `${cap} in ${caps.join(',')}`);
    assert.ok(!caps.includes('AUTH'));
    assert.ok((await c.send('AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHg=')).code >= 500);
    assert.equal((await c.starttls()).code, 220);
    const again = await c.send('EHLO client.sender.test');
    assert.ok(!again.lines.some((l) => l.slice(4).startsWith('AUTH')), 'no AUTH on 25 even under TLS');
    assert.ok((await c.send('AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHg=')).code >= 500);
    await c.quit();
  });
});

test('pipelined transaction gets every reply in order', async () => {
  await withHarness({}, async (h) => {
    const c = await SmtpClient.connect(h.mx);
    await c.reply();
    await c.send('EHLO client.sender.test');
    c.write('MAIL FROM:<someone@sender.test>\r\nRCPT TO:<alice@example.org>\r\nRCPT TO:<nobody@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n');
    const codes = [];
    for (let i = 0; i < 5; i++) codes.push((await c.reply()).code);
    assert.deepEqual(codes, [250, 250, 550, 250, 354]);
    c.write(message().replace(/\r?\n/g, '\r\n') + '.\r\n');
    assert.equal((await c.reply()).code, 250);
    await c.quit();
    assert.equal(await h.totalMessages(), 2);
  });
});

test('oversize: SIZE= over the limit 552, oversized DATA 552 5.3.4 and nothing stored', async () => {
  await withHarness({ config: { store: { max_message_bytes: 4096 } } }, async (h) => {
    const c = await SmtpClient.connect(h.mx);
    await c.reply();
    const ehlo = await c.send('EHLO client.sender.test');
    assert.ok(ehlo.lines.some((l) => l.slice(4) === 'SIZE 4096'));
    assert.equal((await c.send('MAIL FROM:<someone@sender.test> SIZE=10000')).code, 552);
    assert.equal((await c.send('MAIL FROM:<someone@sender.test>')).code, 250);
    assert.equal((await c.send('RCPT TO:<alice@example.org>')).code, 250);
    const r = await c.data(message({ body: 'x'.repeat(70) + '\r\n'.repeat(1) + ('y'.repeat(76) + '\r\n').repeat(100) }));
    assert.equal(r.code, 552);
    assert.equal(r.enhanced, '5.3.4');
    // The connection is still in sync: a small message goes through.
    assert.equal((await c.send('MAIL FROM:<someone@sender.test>')).code, 250);
    assert.equal((await c.send('RCPT TO:<bob@example.org>')).code, 250);
    assert.equal((await c.data(message())).code, 250);
    await c.quit();
    assert.equal((await h.messages('alice@example.org')).length, 0);
    assert.equal((await h.messages('bob@example.org')).length, 1);
  });
});

test('locked store: 421 at connect; locked during a transaction: 451 4.3.0 and nothing stored', async () => {
  await withHarness({}, async (h) => {
    h.lock();
    const c = await SmtpClient.connect(h.mx);
    const greeting = await c.reply();
    assert.equal(greeting.code, 421);
    c.destroy();
    h.unlock();
    const d = await session(h);
    const ok = await d.send("RCPT TO:<alice@example.org>");
    assert.equal(ok.code, 250, ok.text);
    h.lock();
    const r = await d.data(message());
    assert.equal(r.code, 451);
    assert.equal(r.enhanced, '4.3.0');
    h.unlock();
    await d.quit();
    assert.equal(await h.totalMessages(), 0);
  });
});

test('a forged Authentication-Results claiming our host name is removed; others are kept', async () => {
  await withHarness({}, async (h) => {
    const c = await session(h);
    await c.send('RCPT TO:<alice@example.org>');
    const forged = message({ extraHeaders: [`Authentication-Results: ${HOSTNAME}; dkim=pass header.d=bank.test; dmarc=pass`, 'Authentication-Results: other.test; spf=pass'] });
    assert.equal((await c.data(forged)).code, 250);
    await c.quit();
    const text = (await h.messages('alice@example.org'))[0]!.toString();
    assert.doesNotMatch(text, /header\.d=bank\.test/);
    assert.match(text, /Authentication-Results: other\.test; spf=pass/);
    assert.equal(text.match(new RegExp(`Authentication-Results: ${HOSTNAME}`, 'g'))?.length, 1);
  });
});

test('recipient limit 452 4.5.3; error limit closes with 421', async () => {
  await withHarness({ config: { smtp: { max_recipients: 2, max_errors: 5 } } }, async (h) => {
    const c = await session(h);
    assert.equal((await c.send('RCPT TO:<alice@example.org>')).code, 250);
    assert.equal((await c.send('RCPT TO:<bob@example.org>')).code, 250);
    const over = await c.send('RCPT TO:<team@example.org>');
    assert.equal(over.code, 452);
    assert.equal(over.enhanced, '4.5.3');
    const codes: number[] = [];
    for (let i = 0; i < 6 && codes.at(-1) !== 421; i++) codes.push((await c.send('RCPT TO:<nobody@example.org>')).code);
    assert.equal(codes.at(-1), 421, codes.join(','));
    c.destroy();
  });
});

test('swaks delivers with STARTTLS', async () => {
  await withHarness({}, async (h) => {
    const { stdout } = await run('swaks', ['--server', h.mx.host, '--port', String(h.mx.port), '--tls', '--helo', 'client.sender.test', '--from', 'someone@sender.test', '--to', 'bob@example.org', '--header', 'Subject: via swaks']);
    assert.match(stdout, /<~\s+250 2\.0\.0 Ok: queued as/);
    const text = (await h.messages('bob@example.org'))[0]!.toString();
    assert.match(text, /Subject: via swaks/);
    assert.match(text, /with ESMTPS id/);
  });
});

test('Python smtplib: SMTPUTF8 address and 8-bit body', async () => {
  await withHarness({}, async (h) => {
    await h.store.accounts.addUser({ address: 'jürgen@example.org', passwordHash: '{PLAIN}unused' }).catch(async () => {
      // the accounts engineer may reject non-ASCII local parts: fall back to an ASCII user
      await h.store.accounts.addUser({ address: 'juergen@example.org', passwordHash: '{PLAIN}unused' });
    });
    const user = (await h.store.accounts.getUser('jürgen@example.org')) ? 'jürgen@example.org' : 'juergen@example.org';
    const script = `
import smtplib, sys
from email.message import EmailMessage
m = EmailMessage()
m['From'] = 'José <josé@sender.test>'
m['To'] = '${user}'
m['Subject'] = 'Grüße'
m.set_content('Schöne Grüße aus Köln')
s = smtplib.SMTP('${h.mx.host}', ${h.mx.port}, local_hostname='client.sender.test')
s.ehlo()
assert s.has_extn('smtputf8')
s.send_message(m, from_addr='josé@sender.test', to_addrs=['${user}'])
s.quit()
`;
    await run('python3', ['-c', script]);
    const text = (await h.messages(user))[0]!.toString('utf8');
    assert.match(text, /Return-Path: <josé@sender\.test>/);
    assert.match(text, /Schöne Grüße aus Köln|U2Now7Zu/);
  });
});

test('bad input: an over-long command line, NUL bytes and junk get protocol errors; the server keeps serving', async () => {
  await withHarness({}, async (h) => {
    const c = await SmtpClient.connect(h.mx);
    await c.reply();
    await c.send('EHLO client.sender.test');
    const junk = await c.send('\u0000\u0001\u00ff garbage');
    assert.ok(junk.code >= 500 && junk.code < 600, junk.text);
    const long = await c.send('MAIL FROM:<' + 'a'.repeat(8000) + '@sender.test>');
    assert.ok(long.code === 421 || (long.code >= 500 && long.code < 600), long.text);
    c.destroy();
    const d = await session(h);
    assert.equal((await d.send('RCPT TO:<alice@example.org>')).code, 250);
    assert.equal((await d.data(message())).code, 250);
    await d.quit();
  });
});

test('an idle session is closed after idle_timeout_ms with 421', async () => {
  await withHarness({ config: { smtp: { idle_timeout_ms: 300 } } }, async (h) => {
    const c = await SmtpClient.connect(h.mx);
    await c.reply();
    const timeout = await c.reply(); // nothing sent: the server speaks first when the timer fires
    assert.equal(timeout.code, 421);
    c.destroy();
  });
});

// smtp-server's own close would hold the half-closed socket for 5 s (HALF_CLOSE_TIMEOUT): the test's timeout is
// below that, so without the immediate close it fails rather than waits.
test('after the 221 to QUIT the server closes its socket at once (it does not wait for the client FIN)', { timeout: 4000 }, async () => {
  await withHarness({}, async (h) => {
    // allowHalfOpen: the client keeps its side open after the server's FIN, as a slow client would.
    const socket = netConnect({ host: h.mx.host, port: h.mx.port, allowHalfOpen: true });
    socket.setEncoding('utf8');
    let received = '';
    const ended = new Promise<void>((resolve) => socket.once('end', resolve));
    const until = (re: RegExp) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (!re.test(received)) return;
          socket.off('data', onData);
          resolve();
        };
        const onData = (d: string) => {
          received += d;
          check();
        };
        socket.on('data', onData);
        check();
      });
    await until(/^220 /m);
    socket.write('QUIT\r\n');
    await until(/^221 /m);
    await ended;
    // A socket the server still holds (half-closed) swallows what the client sends; a closed one answers
    // with a reset, which one of the client's next writes reports.
    const writeError = await new Promise<NodeJS.ErrnoException>((resolve) => {
      const next = () => socket.write('NOOP\r\n', (err) => (err ? resolve(err) : setImmediate(next)));
      socket.on('error', (err) => resolve(err));
      next();
    });
    socket.destroy();
    assert.ok(['EPIPE', 'ECONNRESET'].includes(writeError.code ?? ''), String(writeError));
  });
});
