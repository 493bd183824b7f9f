// Extensions and limits: LITERAL+/literal limits, COMPRESS=DEFLATE, UTF8=ACCEPT, QUOTA, SORT, THREAD,
// BINARY, multipart sections, CREATE-SPECIAL-USE, APPENDLIMIT, idle timeouts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, message } from './harness.ts';
import { sessionBugs } from '../../src/imap/index.ts';

const MULTIPART = [
  'From: A <a@example.com>',
  'To: alice@example.org',
  'Subject: =?UTF-8?B?R3LDvMOfZQ==?=',
  'Date: Tue, 8 Feb 1994 10:00:00 +0000',
  'Message-ID: <multi@example.com>',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="XX"',
  '',
  'preamble',
  '--XX',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  'Caf=C3=A9 au lait',
  '--XX',
  'Content-Type: application/octet-stream; name="b.bin"',
  'Content-Transfer-Encoding: base64',
  'Content-Disposition: attachment; filename="b.bin"',
  '',
  Buffer.from([0, 1, 2, 3, 255]).toString('base64'),
  '--XX',
  'Content-Type: message/rfc822',
  '',
  'Subject: inner',
  'From: c@example.com',
  '',
  'inner body',
  '--XX',
  'Content-Type: text/plain',
  'Content-Transfer-Encoding: x-unknown',
  '',
  'strange',
  '--XX--',
  '',
].join('\r\n');

test('extensions and limits', async (t) => {
  const h = await startHarness({ maxMessageBytes: 4096, imap: { idle_timeout_preauth_ms: 300 } });
  t.after(() => h.close());
  await h.deliver(MULTIPART);
  await h.deliver(message('Re: Hello', 'b', 'In-Reply-To: <Hello@example.com>\r\nReferences: <Hello@example.com>\r\n').replace('Message-ID: <ReHello@example.com>', 'Message-ID: <r1@example.com>'));
  await h.deliver(message('Hello', 'a'));
  await h.deliver(message('Zebra', 'a'.repeat(100)));
  const c = await h.client();
  await c.ok('SELECT INBOX');

  await t.test('capabilities after login', async () => {
    const caps = (await c.ok('CAPABILITY')).untagged[0]!;
    for (const cap of ['IMAP4rev1', 'IMAP4rev2', 'LITERAL+', 'IDLE', 'NAMESPACE', 'UIDPLUS', 'MOVE', 'UNSELECT', 'ID', 'ENABLE', 'SPECIAL-USE', 'CREATE-SPECIAL-USE', 'LIST-EXTENDED', 'LIST-STATUS', 'CHILDREN', 'CONDSTORE', 'QRESYNC', 'ESEARCH', 'SEARCHRES', 'QUOTA', 'STATUS=SIZE', 'SORT', 'THREAD=REFERENCES', 'THREAD=ORDEREDSUBJECT', 'BINARY', 'UTF8=ACCEPT', 'APPENDLIMIT=4096', 'COMPRESS=DEFLATE']) {
      assert.ok(caps.split(' ').includes(cap), `${cap} missing from ${caps}`);
    }
  });

  await t.test('a literal over the limit is refused before its bytes', async () => {
    c.write(`L1 APPEND INBOX {5000}\r\n`);
    const r = await c.readLine();
    assert.match(r, /^L1 NO \[TOOBIG\]/);
    // no continuation was sent, and the session goes on
    await c.ok('NOOP');
    c.write(`L2 LOGIN {70000}\r\n`);
    assert.match(await c.readLine(), /^L2 NO \[TOOBIG\]/);
    // non-synchronising: the octets are read and dropped, then the session goes on
    c.write(`L3 APPEND INBOX {5000+}\r\n${'x'.repeat(5000)}\r\n`);
    assert.match(await c.readLine(), /^L3 BAD \[TOOBIG\]/);
    await c.ok('NOOP');
    // before login, no APPEND-sized literal either
    const d = await h.client({ login: false });
    d.write('P1 APPEND INBOX {9000}\r\n');
    assert.match(await d.readLine(), /^P1 NO \[TOOBIG\]/);
    // a line over 64 KiB
    c.write(`L4 NOOP ${'y'.repeat(70 * 1024)}\r\n`);
    assert.match(await c.readLine(), /^L4 BAD \[TOOBIG\]/);
    await c.ok('NOOP');
  });

  await t.test('deep nesting is refused', async () => {
    const r = await c.command(`SEARCH ${'('.repeat(100)}ALL${')'.repeat(100)}`);
    assert.equal(r.status, 'BAD');
  });

  await t.test('multipart sections, MIME headers, BINARY, unknown CTE', async () => {
    const r = await c.ok('FETCH 1 (BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] BODY.PEEK[3.1] BODY.PEEK[9])');
    const line = r.untagged[0]!;
    assert.match(line, /BODY\[1\] \{\d+\}\r\nCaf=C3=A9 au lait/);
    assert.match(line, /BODY\[1\.MIME\] \{\d+\}\r\nContent-Type: text\/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n/);
    assert.match(line, /BODY\[3\.HEADER\] \{\d+\}\r\nSubject: inner\r\nFrom: c@example\.com\r\n\r\n/);
    assert.match(line, /BODY\[3\.TEXT\] \{\d+\}\r\ninner body/);
    assert.match(line, /BODY\[3\.1\] \{\d+\}\r\ninner body/);
    assert.match(line, /BODY\[9\] ""/);
    const b = await c.ok('FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[2] BINARY.PEEK[2])');
    assert.match(b.untagged[0]!, /BINARY\[1\] \{13\}\r\nCafé au lait/);
    assert.match(b.untagged[0]!, /BINARY\.SIZE\[2\] 5/);
    assert.match(b.untagged[0]!, /BINARY\[2\] ~\{5\}\r\n/);
    const u = await c.command('FETCH 1 BINARY.PEEK[4]');
    assert.match(u.tagged, /NO \[UNKNOWN-CTE\]/);
    const bs = await c.ok('FETCH 1 BODYSTRUCTURE');
    assert.match(bs.untagged[0]!, /"mixed"/);
    assert.match(bs.untagged[0]!, /"message" "rfc822"/);
  });

  await t.test('SEARCH on decoded text and UTF-8', async () => {
    assert.equal((await c.ok('SEARCH CHARSET UTF-8 BODY "Café"')).untagged[0], '* SEARCH 1');
    assert.equal((await c.ok('SEARCH SUBJECT "Grüße"')).untagged[0], '* SEARCH 1');
    const lit = Buffer.from('grüße');
    c.write(`S1 SEARCH CHARSET UTF-8 SUBJECT {${lit.length}+}\r\n`);
    c.write(Buffer.concat([lit, Buffer.from('\r\n')]));
    const r = await c.until('S1');
    assert.equal(r.untagged[0], '* SEARCH 1');
  });

  await t.test('SORT', async () => {
    assert.equal((await c.ok('SORT (SUBJECT) UTF-8 ALL')).untagged[0], '* SORT 1 2 3 4', 'base subjects grüße, hello, hello, zebra; ties by number');
    assert.equal((await c.ok('SORT (REVERSE SIZE) UTF-8 ALL')).untagged[0]!.split(' ')[2], '1');
    assert.equal((await c.ok('UID SORT (ARRIVAL) US-ASCII ALL')).untagged[0], '* SORT 1 2 3 4');
    assert.equal((await c.command('SORT (BOGUS) UTF-8 ALL')).status, 'BAD');
  });

  await t.test('THREAD', async () => {
    const o = (await c.ok('THREAD ORDEREDSUBJECT UTF-8 ALL')).untagged[0]!;
    assert.match(o, /^\* THREAD /);
    assert.match(o, /\(3 2\)|\(2 3\)/);
    const r = (await c.ok('THREAD REFERENCES UTF-8 ALL')).untagged[0]!;
    assert.match(r, /\(3 2\)/, r);
  });

  await t.test('QUOTA', async () => {
    const r = await c.ok('GETQUOTAROOT INBOX');
    assert.equal(r.untagged[0], '* QUOTAROOT "INBOX" ""');
    assert.match(r.untagged[1]!, /^\* QUOTA "" \(STORAGE \d+ 10240\)$/);
    assert.match((await c.ok('GETQUOTA ""')).untagged[0]!, /STORAGE/);
    assert.match((await c.command('SETQUOTA "" (STORAGE 1)')).tagged, /NO/);
  });

  await t.test('CREATE-SPECIAL-USE and STATUS=SIZE', async () => {
    await c.ok('CREATE MyArchive (USE (\\Archive))');
    const l = await c.ok('LIST "" MyArchive');
    assert.match(l.untagged[0]!, /\\Archive/);
    assert.match((await c.command('CREATE Other (USE (\\Bogus))')).tagged, /NO \[USEATTR\]/);
    assert.match((await c.ok('STATUS INBOX (SIZE MESSAGES)')).untagged[0]!, /SIZE \d+ MESSAGES 4/);
  });

  await t.test('LIST-EXTENDED: SUBSCRIBED, RECURSIVEMATCH, CHILDINFO, \\NonExistent', async () => {
    await c.ok('CREATE Lists/Sub');
    await c.ok('SUBSCRIBE Lists/Sub');
    await c.ok('SUBSCRIBE Ghost');
    const r = await c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "Lists"');
    // "Lists" itself was never created: it is a \\Noselect parent with a subscribed child
    assert.deepEqual(r.untagged, ['* LIST (\\Noselect \\HasChildren) "/" "Lists" ("CHILDINFO" ("SUBSCRIBED"))']);
    const g = await c.ok('LIST (SUBSCRIBED) "" "Ghost"');
    assert.deepEqual(g.untagged, ['* LIST (\\NonExistent \\Subscribed) "/" "Ghost"']);
    const m = await c.ok('LIST "" ("Lists" "Lists/%") RETURN (CHILDREN SUBSCRIBED)');
    assert.deepEqual(m.untagged, ['* LIST (\\Noselect \\HasChildren) "/" "Lists"', '* LIST (\\HasNoChildren \\Subscribed) "/" "Lists/Sub"']);
  });

  await t.test('LITERAL- form and APPEND over quota', async () => {
    const r = await c.ok('STATUS {5-}\r\nINBOX (MESSAGES)');
    assert.match(r.untagged[0]!, /MESSAGES 4/);
    await h.store.accounts.updateUser('alice@example.org', { quotaBytes: 100 });
    const msg = message('too much');
    const q = await c.command(`APPEND INBOX {${msg.length}+}\r\n${msg}`);
    assert.match(q.tagged, /NO \[OVERQUOTA\]/);
    await h.store.accounts.updateUser('alice@example.org', { quotaBytes: 10 * 1024 * 1024 });
  });

  await t.test('UTF8=ACCEPT: UTF-8 mailbox names', async () => {
    const d = await h.client();
    await d.ok('ENABLE UTF8=ACCEPT');
    await d.ok('CREATE "Entwürfe"');
    const l = await d.ok('LIST "" "Entw*"');
    assert.equal(l.untagged[0], '* LIST (\\HasNoChildren) "/" "Entwürfe"');
    const l2 = await c.ok('LIST "" "Entw*"');
    assert.equal(l2.untagged[0], '* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"');
  });

  await t.test('COMPRESS=DEFLATE', async () => {
    const d = await h.client();
    await d.ok('COMPRESS DEFLATE');
    d.startCompression();
    await d.ok('SELECT INBOX');
    const f = await d.ok('FETCH 1:* (ENVELOPE)');
    assert.equal(f.untagged.length, 4);
    const caps = await d.ok('CAPABILITY');
    assert.doesNotMatch(caps.untagged[0]!, /COMPRESS=/);
    assert.match((await d.command('COMPRESS DEFLATE')).tagged, /NO \[COMPRESSIONACTIVE\]/);
  });

  await t.test('idle timeout before login closes the connection', async () => {
    const d = await h.client({ login: false });
    const lines: string[] = [];
    try {
      for (;;) lines.push(await d.readLine());
    } catch {
      // closed
    }
    assert.match(lines.join('\n'), /\* BYE Autologout/);
  });

  assert.equal(sessionBugs.count, 0);
});
