// The core commands over TLS: SELECT/EXAMINE, FETCH, STORE, SEARCH, APPEND, EXPUNGE, COPY/MOVE, UID
// forms, LIST/LSUB/STATUS, CREATE/DELETE/RENAME/SUBSCRIBE, NAMESPACE, and syntax errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, message } from './harness.ts';
import { sessionBugs } from '../../src/imap/index.ts';

test('mailbox commands', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  for (let i = 1; i <= 5; i++) await h.deliver(message(`Message ${i}`, `Body number ${i} with word${i}.`));
  const c = await h.client();

  await t.test('SELECT reports the mailbox state', async () => {
    const r = await c.ok('SELECT INBOX');
    assert.ok(r.untagged.includes('* 5 EXISTS'), r.untagged.join('\n'));
    assert.ok(r.untagged.some((l) => /^\* FLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft\)$/.test(l)));
    assert.ok(r.untagged.some((l) => /^\* OK \[PERMANENTFLAGS \(.*\\\*\)\]/.test(l)));
    assert.ok(r.untagged.some((l) => /^\* OK \[UIDVALIDITY \d+\]/.test(l)));
    assert.ok(r.untagged.some((l) => /^\* OK \[UIDNEXT 6\]/.test(l)));
    assert.ok(r.untagged.some((l) => /^\* OK \[HIGHESTMODSEQ \d+\]/.test(l)));
    assert.match(r.tagged, /OK \[READ-WRITE\]/);
    // inbox in any case is INBOX
    const e = await c.ok('EXAMINE inbox');
    assert.match(e.tagged, /OK \[READ-ONLY\]/);
    assert.equal((await c.command('SELECT Nope')).status, 'NO');
    await c.ok('SELECT INBOX');
  });

  await t.test('FETCH simple items and macros', async () => {
    const r = await c.ok('FETCH 1:2 (UID FLAGS RFC822.SIZE INTERNALDATE)');
    assert.equal(r.untagged.length, 2);
    assert.match(r.untagged[0]!, /^\* 1 FETCH \(UID 1 FLAGS \(\) RFC822\.SIZE \d+ INTERNALDATE "\d\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d \+0000"\)$/);
    const all = await c.ok('FETCH 1 ALL');
    assert.match(all.untagged[0]!, /FLAGS .*INTERNALDATE .*RFC822\.SIZE .*ENVELOPE \("Mon, 7 Feb 1994 21:52:25 -0800" "Message 1" \(\("Sender" NIL "sender" "example\.com"\)\)/);
    const full = await c.ok('FETCH 2 FULL');
    assert.match(full.untagged[0]!, /BODY \("text" "plain"/);
    const fast = await c.ok('FETCH 3 FAST');
    assert.doesNotMatch(fast.untagged[0]!, /ENVELOPE/);
    const bs = await c.ok('FETCH 1 BODYSTRUCTURE');
    assert.match(bs.untagged[0]!, /BODYSTRUCTURE \("text" "plain"/);
  });

  await t.test('FETCH BODY sections, partials, PEEK and \\Seen', async () => {
    const peek = await c.ok('FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)])');
    assert.equal(peek.untagged[0], '* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {22}\r\nSubject: Message 1\r\n\r\n)');
    const flags = await c.ok('FETCH 1 FLAGS');
    assert.equal(flags.untagged[0], '* 1 FETCH (FLAGS ())');
    const text = await c.ok('FETCH 1 BODY[TEXT]');
    assert.match(text.untagged[0]!, /BODY\[TEXT\] \{\d+\}\r\nBody number 1 with word1\.\r\n/);
    assert.match(text.untagged[0]!, /FLAGS \(\\Seen\)/);
    const partial = await c.ok('FETCH 2 BODY.PEEK[TEXT]<5.6>');
    assert.match(partial.untagged[0]!, /BODY\[TEXT\]<5> \{6\}\r\nnumber\)$/);
    const whole = await c.ok('UID FETCH 3 (BODY.PEEK[])');
    assert.match(whole.untagged[0]!, /^\* 3 FETCH \(UID 3 BODY\[\] \{\d+\}\r\nFrom: Sender/);
    const rfc = await c.ok('FETCH 4 (RFC822.HEADER RFC822.TEXT)');
    assert.match(rfc.untagged[0]!, /RFC822\.HEADER \{\d+\}\r\nFrom:.*RFC822\.TEXT \{\d+\}\r\nBody number 4/s);
    const mime = await c.ok('FETCH 1 (BODY.PEEK[1] BODY.PEEK[1.MIME] BINARY.PEEK[1] BINARY.SIZE[1])');
    assert.match(mime.untagged[0]!, /BODY\[1\] \{\d+\}\r\nBody number 1/);
    assert.match(mime.untagged[0]!, /BINARY\.SIZE\[1\] \d+/);
    const not = await c.ok('FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (From To Date Message-ID)]');
    assert.equal(not.untagged[0], '* 1 FETCH (BODY[HEADER.FIELDS.NOT (FROM TO DATE MESSAGE-ID)] {22}\r\nSubject: Message 1\r\n\r\n)');
  });

  await t.test('FETCH errors', async () => {
    assert.equal((await c.command('FETCH 99 FLAGS')).status, 'BAD');
    assert.equal((await c.command('FETCH 1 (FLAGS')).status, 'BAD');
    assert.equal((await c.command('FETCH 1 BOGUS')).status, 'BAD');
    const uid = await c.ok('UID FETCH 99 FLAGS');
    assert.equal(uid.untagged.length, 0);
  });

  await t.test('STORE flags and keywords', async () => {
    const r = await c.ok('STORE 2 +FLAGS (\\Flagged $Important)');
    assert.equal(r.untagged[0], '* 2 FETCH (FLAGS (\\Flagged $Important))');
    const s = await c.ok('STORE 2 -FLAGS.SILENT (\\Flagged)');
    assert.equal(s.untagged.length, 0);
    const u = await c.ok('UID STORE 2 FLAGS (\\Answered $Important)');
    assert.equal(u.untagged[0], '* 2 FETCH (UID 2 FLAGS (\\Answered $Important))');
    assert.equal((await c.command('STORE 1 +FLAGS (\\Recent)')).status, 'NO');
  });

  await t.test('SEARCH keys', async () => {
    const s = async (q: string) => (await c.ok(`SEARCH ${q}`)).untagged[0];
    assert.equal(await s('ALL'), '* SEARCH 1 2 3 4 5');
    assert.equal(await s('SEEN'), '* SEARCH 1 4', 'RFC822.TEXT set \\Seen on 4');
    assert.equal(await s('ANSWERED'), '* SEARCH 2');
    assert.equal(await s('UNSEEN UNANSWERED'), '* SEARCH 3 5');
    assert.equal(await s('SUBJECT "message 3"'), '* SEARCH 3');
    assert.equal(await s('FROM sender@example.com 2:3'), '* SEARCH 2 3');
    assert.equal(await s('OR SUBJECT "message 1" SUBJECT "message 5"'), '* SEARCH 1 5');
    assert.equal(await s('NOT (SUBJECT "message 1" ALL)'), '* SEARCH 2 3 4 5');
    assert.equal(await s('BODY word4'), '* SEARCH 4');
    assert.equal(await s('TEXT WORD2'), '* SEARCH 2');
    assert.equal(await s('HEADER Message-ID Message3'), '* SEARCH 3');
    assert.equal(await s('SENTON 7-Feb-1994'), '* SEARCH 1 2 3 4 5');
    assert.equal(await s('SENTBEFORE 7-Feb-1994'), '* SEARCH');
    assert.equal(await s('SINCE 1-Jan-2000'), '* SEARCH 1 2 3 4 5');
    assert.equal(await s('BEFORE 1-Jan-2000'), '* SEARCH');
    assert.equal(await s('LARGER 1 SMALLER 100000'), '* SEARCH 1 2 3 4 5');
    assert.equal(await s('UID 2:4 NOT UID 3'), '* SEARCH 2 4');
    assert.equal(await s('KEYWORD $Important'), '* SEARCH 2');
    assert.equal(await s('CHARSET UTF-8 SUBJECT "Message 2"'), '* SEARCH 2');
    assert.equal((await c.ok('UID SEARCH SUBJECT "message 5"')).untagged[0], '* SEARCH 5');
    const bad = await c.command('SEARCH CHARSET KOI8-R ALL');
    assert.match(bad.tagged, /NO \[BADCHARSET \(UTF-8 US-ASCII\)\]/);
    assert.equal((await c.command('SEARCH FOO')).status, 'BAD');
  });

  await t.test('ESEARCH and SEARCHRES', async () => {
    const r = await c.ok('SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN');
    assert.match(r.untagged[0]!, /^\* ESEARCH \(TAG "A\d+"\) MIN 2 MAX 5 ALL 2:3,5 COUNT 3$/);
    const u = await c.ok('UID SEARCH RETURN () ALL');
    assert.match(u.untagged[0]!, /^\* ESEARCH \(TAG "A\d+"\) UID ALL 1:5$/);
    const none = await c.ok('SEARCH RETURN (COUNT) SUBJECT nothing-like-this');
    assert.match(none.untagged[0]!, /COUNT 0$/);
    const save = await c.ok('UID SEARCH RETURN (SAVE) SUBJECT "message 4"');
    assert.equal(save.untagged.length, 0);
    const f = await c.ok('UID FETCH $ (FLAGS)');
    assert.equal(f.untagged[0], '* 4 FETCH (UID 4 FLAGS (\\Seen))');
  });

  await t.test('APPEND with flags and date, APPENDUID, EXISTS', async () => {
    const msg = message('Appended');
    c.write(`X1 APPEND INBOX (\\Seen) "05-Jan-2020 10:00:00 +0100" {${Buffer.byteLength(msg)}}\r\n`);
    assert.match(await c.readLine(), /^\+ /);
    c.write(msg + '\r\n');
    const r = await c.until('X1');
    assert.match(r.tagged, /^X1 OK \[APPENDUID \d+ 6\]/);
    assert.ok(r.untagged.includes('* 6 EXISTS'), r.untagged.join('\n'));
    const f = await c.ok('FETCH 6 (FLAGS INTERNALDATE)');
    assert.equal(f.untagged[0], '* 6 FETCH (FLAGS (\\Seen) INTERNALDATE "05-Jan-2020 09:00:00 +0000")');
    // LITERAL+: no continuation
    const r2 = await c.ok(`APPEND INBOX {${Buffer.byteLength(msg)}+}\r\n${msg}`);
    assert.match(r2.tagged, /APPENDUID \d+ 7/);
    const missing = await c.command(`APPEND Nope {${Buffer.byteLength(msg)}+}\r\n${msg}`);
    assert.match(missing.tagged, /NO \[TRYCREATE\]/);
  });

  await t.test('COPY, MOVE and EXPUNGE', async () => {
    await c.ok('CREATE Archive/2024');
    const cp = await c.ok('COPY 1:2 Archive/2024');
    assert.match(cp.tagged, /OK \[COPYUID \d+ 1:2 1:2\]/);
    const mv = await c.ok('UID MOVE 3 Archive/2024');
    assert.ok(mv.untagged.some((l) => /^\* OK \[COPYUID \d+ 3 3\]/.test(l)), mv.untagged.join('\n'));
    assert.ok(mv.untagged.includes('* 3 EXPUNGE'));
    await c.ok('STORE 1:2 +FLAGS.SILENT (\\Deleted)');
    const ex = await c.ok('EXPUNGE');
    assert.deepEqual(ex.untagged, ['* 2 EXPUNGE', '* 1 EXPUNGE']);
    const s = await c.ok('STATUS Archive/2024 (MESSAGES UIDNEXT UNSEEN SIZE)');
    assert.match(s.untagged[0]!, /^\* STATUS "Archive\/2024" \(MESSAGES 3 UIDNEXT 4 UNSEEN 2 SIZE \d+\)$/);
    assert.match((await c.command('COPY 1 Nope')).tagged, /NO \[TRYCREATE\]/);
    await c.ok('STORE 1 +FLAGS.SILENT (\\Deleted)');
    await c.ok('STORE 2 +FLAGS.SILENT (\\Deleted)');
    const ue = await c.ok('UID EXPUNGE 4');
    assert.deepEqual(ue.untagged, ['* 1 EXPUNGE']);
    const left = await c.ok('SEARCH ALL');
    assert.equal(left.untagged[0], '* SEARCH 1 2 3');
  });

  await t.test('LIST, LSUB, special-use, CHILDREN, LIST-EXTENDED, LIST-STATUS', async () => {
    const l = await c.ok('LIST "" "*"');
    assert.equal(l.untagged[0], '* LIST (\\HasNoChildren) "/" "INBOX"');
    assert.ok(l.untagged.includes('* LIST (\\HasChildren) "/" "Archive"') || l.untagged.some((x) => /\\HasChildren.*"Archive"$/.test(x)), l.untagged.join('\n'));
    assert.ok(l.untagged.some((x) => /"Archive\/2024"$/.test(x)));
    assert.ok(l.untagged.some((x) => /\\Sent/.test(x)), l.untagged.join('\n'));
    const pct = await c.ok('LIST "" "%"');
    assert.ok(!pct.untagged.some((x) => /Archive\/2024/.test(x)));
    const d = await c.ok('LIST "" ""');
    assert.equal(d.untagged[0], '* LIST (\\Noselect) "/" ""');
    const su = await c.ok('LIST (SPECIAL-USE) "" "*"');
    assert.ok(su.untagged.length >= 1 && su.untagged.every((x) => /\\(Sent|Drafts|Trash|Junk|Archive|All|Flagged)/.test(x)), su.untagged.join('\n'));
    const st = await c.ok('LIST "" "INBOX" RETURN (STATUS (MESSAGES UNSEEN) SUBSCRIBED)');
    assert.match(st.untagged[0]!, /^\* LIST \(.*\\Subscribed.*\) "\/" "INBOX"$/);
    assert.match(st.untagged[1]!, /^\* STATUS "INBOX" \(MESSAGES 3 UNSEEN \d+\)$/);
    await c.ok('SUBSCRIBE Archive/2024');
    const ls = await c.ok('LSUB "" "Archive/*"');
    assert.deepEqual(ls.untagged, ['* LSUB () "/" "Archive/2024"']);
    await c.ok('UNSUBSCRIBE Archive/2024');
    assert.deepEqual((await c.ok('LSUB "" "Archive/*"')).untagged, []);
  });

  await t.test('CREATE, RENAME, DELETE and name rules', async () => {
    await c.ok('CREATE Projects/');
    assert.match((await c.command('CREATE Projects')).tagged, /NO \[ALREADYEXISTS\]/);
    await c.ok('CREATE Projects/Alpha');
    await c.ok('RENAME Projects Work');
    const l = await c.ok('LIST "" "Work*"');
    assert.deepEqual(l.untagged.map((x) => x.replace(/^.* "\/" /, '')), ['"Work"', '"Work/Alpha"']);
    await c.ok('DELETE Work/Alpha');
    assert.match((await c.command('DELETE Work/Alpha')).tagged, /NO \[NONEXISTENT\]/);
    assert.match((await c.command('DELETE INBOX')).tagged, /NO/);
    for (const bad of ['"a/../b"', '"../x"', '"/abs"', '"a//b"', '"x/"', '"a/./b"', '"tab\there"']) {
      const r = await c.command(`CREATE ${bad}`);
      assert.equal(r.status, bad === '"x/"' ? 'OK' : 'NO', `${bad}: ${r.tagged}`);
    }
    await c.ok('CREATE "Caf&AOk-"');
    const l2 = await c.ok('LIST "" "Caf*"');
    assert.deepEqual(l2.untagged, ['* LIST (\\HasNoChildren) "/" "Caf&AOk-"']);
    assert.match((await c.command('CREATE "Caf&AOk"')).tagged, /NO/);
    assert.match((await c.command('CREATE "bad*name"')).tagged, /NO/);
    const st = await c.ok('STATUS "Caf&AOk-" (MESSAGES)');
    assert.equal(st.untagged[0], '* STATUS "Caf&AOk-" (MESSAGES 0)');
  });

  await t.test('NAMESPACE, ID, ENABLE, NOOP, CHECK, UNSELECT, CLOSE', async () => {
    assert.equal((await c.ok('NAMESPACE')).untagged[0], '* NAMESPACE (("" "/")) NIL NIL');
    assert.match((await c.ok('ID ("name" "test")')).untagged[0]!, /^\* ID \("name" "mailstack"/);
    assert.equal((await c.ok('ENABLE CONDSTORE X-UNKNOWN')).untagged[0], '* ENABLED CONDSTORE');
    await c.ok('NOOP');
    await c.ok('CHECK');
    await c.ok('UNSELECT');
    assert.equal((await c.command('FETCH 1 FLAGS')).status, 'BAD');
    await c.ok('SELECT INBOX');
    await c.ok('STORE 1 +FLAGS.SILENT (\\Deleted)');
    const cl = await c.ok('CLOSE');
    assert.equal(cl.untagged.length, 0);
    const s = await c.ok('STATUS INBOX (MESSAGES)');
    assert.equal(s.untagged[0], '* STATUS "INBOX" (MESSAGES 2)');
  });

  await t.test('garbage gets BAD and the session goes on', async () => {
    for (const junk of ['', 'X', 'A1', 'A1 ', '* NOOP', 'A1 FETCH', 'A1 SELECT "unterminated', 'A1 LOGIN a b c d', '+ x', 'A1 (', 'A1 UID', 'A1 UID BOGUS 1', '\u00ff\u00fe NOOP']) {
      c.write(junk + '\r\n');
      const line = await c.readLine();
      assert.match(line, /^(\S+) BAD /, `for ${JSON.stringify(junk)}: ${line}`);
    }
    await c.ok('NOOP');
  });

  assert.equal(sessionBugs.count, 0);
});
