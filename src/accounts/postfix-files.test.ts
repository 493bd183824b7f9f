import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePasswdFile, parseVirtual, parseVmailbox } from './postfix-files.ts';
import { flagsFromFileName, parseKeywords, parseSubscriptions, formatSubscriptions, parseUidList, folderDirName, maildirFileBytes, toCrlf, toLf } from './maildir.ts';

test('vmailbox: comments, blank lines, any whitespace, OK or a path', () => {
  const r = parseVmailbox('# example.org\nAdmin@Example.org        OK\n\n\tcontinued-ignored\nuser@example.net\texample.net/user/\n@example.net  catchall/\nbare  x/\nuser@example.net OK\nnovalue@example.org\n');
  assert.deepEqual(r.entries.map((e) => [e.address, e.location]), [['admin@example.org', 'OK continued-ignored'], ['user@example.net', 'example.net/user/']]);
  assert.deepEqual(r.skipped.map((s) => s.line), [6, 7, 8, 9]);
  assert.match(r.skipped[0]!.reason, /catch-all/);
  assert.match(r.skipped[1]!.reason, /no domain/);
  assert.match(r.skipped[2]!.reason, /twice/);
  assert.match(r.skipped[3]!.reason, /no value/);
});

test('virtual: commas and spaces, continuation lines, catch-alls, bare names skipped', () => {
  const r = parseVirtual('postmaster@example.org   admin@example.org\nteam@example.org a@example.org,b@example.org , c@example.org\n  d@example.org\n@example.net accounts@example.net\nroot admin@example.org\nx@example.org admin, y@example.org\n');
  assert.deepEqual(
    r.entries.map((e) => [e.source, e.destinations]),
    [
      ['postmaster@example.org', ['admin@example.org']],
      ['team@example.org', ['a@example.org', 'b@example.org', 'c@example.org', 'd@example.org']],
      ['@example.net', ['accounts@example.net']],
      ['x@example.org', ['y@example.org']],
    ],
  );
  assert.equal(r.skipped.length, 2);
  assert.match(r.skipped[0]!.reason, /"root" has no domain/);
  assert.match(r.skipped[1]!.reason, /destination "admin" has no domain/);
});

test('passwd-file: scheme kept, extra fields, quota rule, bad lines skipped without showing the hash', () => {
  const r = parsePasswdFile('# c\nuser@example.net:{BLF-CRYPT}$2y$05$abc\nadmin@example.org:{SHA512-CRYPT}$6$x$y::::::userdb_quota_rule=*:storage=2G\nq@example.org:{PLAIN}pw::::::quota_rule=*:storage=1024\nnodomain:{PLAIN}secret\nempty@example.org:\n');
  assert.deepEqual(
    r.entries.map((e) => [e.address, e.password, e.quotaBytes]),
    [
      ['user@example.net', '{BLF-CRYPT}$2y$05$abc', undefined],
      ['admin@example.org', '{SHA512-CRYPT}$6$x$y', 2 * 1024 ** 3],
      ['q@example.org', '{PLAIN}pw', 1024 * 1024],
    ],
  );
  assert.deepEqual(r.skipped.map((s) => s.line), [5, 6]);
  assert.ok(r.skipped.every((s) => !s.text.includes('secret')), 'the password never appears in the report');
});

test('Maildir file names: system flags and keyword letters', () => {
  const kw = parseKeywords('0 $Label1\n1 Important\n2 $Junk\n');
  assert.deepEqual(kw, ['$Label1', 'Important', '$Junk']);
  assert.deepEqual(flagsFromFileName('123.M1P2.host,S=10,W=12:2,FRSac', kw), { base: '123.M1P2.host,S=10,W=12', flags: ['\\Flagged', '\\Answered', '\\Seen', '$Label1', '$Junk'] });
  assert.deepEqual(flagsFromFileName('123.M1P2.host:2,DT', kw).flags, ['\\Draft', '\\Deleted']);
  assert.deepEqual(flagsFromFileName('123.M1P2.host', kw), { base: '123.M1P2.host', flags: [] });
  assert.deepEqual(flagsFromFileName('123.host:2,z', kw).flags, [], 'an undefined keyword letter is ignored');
});

test('dovecot-uidlist versions 3 and 1', () => {
  const v3 = parseUidList('3 V1700000000 N5 G0123abcd\n1 :a.host,S=1\n2 W3 S2 :b.host\n4 :c.host:2,S\nbogus\n');
  assert.deepEqual(v3 && { v: v3.uidValidity, n: v3.nextUid, u: [...v3.uids] }, { v: 1700000000, n: 5, u: [['a.host,S=1', 1], ['b.host', 2], ['c.host', 4]] });
  const v1 = parseUidList('1 1600000000 3\n1 a.host\n2 b.host:2,S\n');
  assert.deepEqual(v1 && { v: v1.uidValidity, n: v1.nextUid, u: [...v1.uids] }, { v: 1600000000, n: 3, u: [['a.host', 1], ['b.host', 2]] });
  assert.equal(parseUidList('garbage'), null);
  assert.equal(parseUidList('3 V0 N1\n'), null);
});

test('subscriptions v2 and folder names round-trip', () => {
  const text = 'V\t2\n\nDrafts\nArchive\t2023\nEntw&APw-rfe\n';
  assert.deepEqual(parseSubscriptions(text), ['Drafts', 'Archive/2023', 'Entwürfe']);
  assert.equal(formatSubscriptions(['Drafts', 'Archive/2023', 'Entwürfe']), text);
  assert.equal(folderDirName('INBOX'), '');
  assert.equal(folderDirName('Archive/2023'), '.Archive.2023');
  assert.equal(folderDirName('A & B'), '.A &- B');
});

test('line ends: LF files become CRLF for IMAP and back', () => {
  const lf = Buffer.from('a: b\n\nbody\nline\n');
  assert.equal(toCrlf(lf).toString(), 'a: b\r\n\r\nbody\r\nline\r\n');
  assert.equal(toCrlf(Buffer.from('x\r\ny\n')).toString(), 'x\r\ny\r\n');
  assert.deepEqual(toLf(toCrlf(lf)), lf);
});

test('a stored message reads back from its Maildir file byte for byte, whatever its line ends', () => {
  // (A bare LF is the one thing that cannot come back: a Maildir reader, Dovecot as this import, serves every
  // LF as CRLF.)
  for (const text of ['a: b\r\n\r\nbody\r\n', 'Subject: crcrlf\r\r\n\r\nbody\r\r\n', 'a\r\r\r\nb\r\n', 'no line end', '\r\n', 'x\r']) {
    const stored = Buffer.from(text, 'latin1');
    assert.deepEqual(toCrlf(maildirFileBytes(stored)), stored, JSON.stringify(text));
  }
  // The common case is written the way Dovecot writes it.
  assert.equal(maildirFileBytes(Buffer.from('a: b\r\n\r\nbody\r\n')).toString(), 'a: b\n\nbody\n');
});
