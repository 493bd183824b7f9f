// Import of a real Dovecot tree (test/fixtures/dovecot/install, written by doveadm) through the real CLI,
// then export, compared file by file with the original: names (flags), bytes, mtimes (INTERNALDATE),
// UIDs and UIDVALIDITY, keywords, subscriptions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { makeInstance, runCli } from '../helpers/cli.ts';
import { openContext } from '../../src/cli/open-context.ts';
import { openStore } from '../../src/store/index.ts';
import { authenticate, resolveRecipient } from '../../src/accounts/index.ts';
import { importPostfixDovecot, type ImportSources } from '../../src/accounts/import.ts';
import { exportMaildir, parseKeywords, parseSubscriptions, parseUidList } from '../../src/accounts/maildir.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/dovecot/install', import.meta.url));

/** Copies the fixture and gives every message file the mtime its name says (git does not keep mtimes). */
async function copyFixture(into: string): Promise<string> {
  const root = join(into, 'install');
  await cp(FIXTURE, root, { recursive: true });
  for (const file of await messageFiles(join(root, 'vmail'))) {
    const seconds = Number(/^(\d+)\./.exec(file.split('/').pop()!)?.[1]);
    await utimes(join(root, 'vmail', file), seconds, seconds);
  }
  return root;
}

async function walk(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p, base)));
    else out.push(relative(base, p));
  }
  return out.sort();
}

async function messageFiles(dir: string): Promise<string[]> {
  return (await walk(dir)).filter((f) => /(^|\/)(cur|new)\/[^.][^/]*$/.test(f));
}


test('import postfix-dovecot takes accounts and mail; a second run imports nothing; export gives the same Maildir back', async () => {
  const work = await mkdtemp(join(tmpdir(), 'mailstack-import-'));
  const inst = await makeInstance();
  const g = ['--config', inst.config, '--passphrase-file', inst.passphraseFile];
  try {
    const root = await copyFixture(work);
    const args = ['import', 'postfix-dovecot', '--vmailbox', join(root, 'postfix/vmailbox'), '--virtual', join(root, 'postfix/virtual'), '--users', join(root, 'dovecot/users'), '--maildir', join(root, 'vmail')];
    let r = await runCli([...g, ...args]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^took: user admin@example\.org \(SHA512-CRYPT hash kept, quota 1073741824 bytes\)$/m);
    assert.match(r.stdout, /^took: user legacy@example\.org \(clear-text password converted to bcrypt\)$/m);
    assert.match(r.stdout, /^took: alias @example\.net -> accounts@example\.net$/m);
    assert.match(r.stdout, /^took: alias team@example\.org -> friend@elsewhere\.test$/m);
    assert.match(r.stdout, /^took: mail admin@example\.org Entwürfe: 1 message\(s\), UIDVALIDITY and UIDs kept$/m);
    assert.match(r.stdout, /^note: old@example\.org: password not usable \(the password scheme \{MD5-CRYPT\}/m);
    assert.match(r.stdout, /^skipped: .*virtual:15: root +admin@example\.org: "root" has no domain/m);
    assert.match(r.stdout, /^skipped: .*users:7: nodomain:\[password hidden\]: /m);
    assert.match(r.stdout, /^imported 2 domain\(s\), 6 user\(s\), 9 alias\(es\), 15 message\(s\) in 11 mailbox\(es\); 0 already present; 3 skipped$/m);
    assert.doesNotMatch(r.stdout, /legacy password|\$6\$/, 'no password or hash in the report');

    r = await runCli([...g, 'user', 'list']);
    assert.match(r.stdout, /^old@example\.org .*\(no usable password: mailstack user passwd\)$/m);
    assert.match(r.stdout, /^admin@example\.org +13 msgs .* \/ 1G$/m);

    r = await runCli([...g, ...args]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^imported 0 domain\(s\), 0 user\(s\), 0 alias\(es\), 0 message\(s\) in 11 mailbox\(es\); 32 already present; 3 skipped$/m);

    const ctx = await openContext({ config: inst.config, passphraseFile: inst.passphraseFile });
    try {
      const store = ctx.store;
      const admin = (await store.accounts.getUser('admin@example.org'))!;
      const inbox = (await store.mail.getMailbox(admin.id, 'INBOX'))!;
      const uidList = parseUidList(await readFile(join(root, 'vmail/example.org/admin/Maildir/dovecot-uidlist'), 'utf8'))!;
      assert.equal(inbox.uidValidity, uidList.uidValidity);
      const msgs = await store.mail.listMessages(inbox.id);
      // uid 2 was expunged in Dovecot; the file Postfix dropped into new/ gets the next UID.
      assert.deepEqual(msgs.map((m) => m.uid), [1, 3, 4, 5, 6, 7, 8]);
      assert.deepEqual(msgs.find((m) => m.uid === 4)?.flags.slice().sort(), ['$Label1', 'Important', '\\Seen']);
      assert.deepEqual(msgs.find((m) => m.uid === 5)?.flags.slice().sort(), ['\\Deleted', '\\Seen']);
      const body = await store.mail.getBody(msgs.find((m) => m.uid === 7)!.bodyId);
      assert.match(body.toString('utf8'), /Subject: Grüße aus München\r\n/, 'stored with CRLF line ends, UTF-8 intact');
      assert.ok(await store.mail.getMailbox(admin.id, 'Archive/2023'));
      assert.ok((await store.mail.listSubscriptions(admin.id)).includes('Entwürfe'));
      assert.ok(!(await store.mail.listSubscriptions(admin.id)).includes('A & B'), 'not subscribed in Dovecot: not subscribed here');
      assert.ok(await authenticate(store, 'admin@example.org', 'admin password'), 'SHA512-CRYPT from Dovecot');
      assert.ok(await authenticate(store, 'user@example.net', 'user password'), '$2y$ BLF-CRYPT from Dovecot');
      assert.ok(await authenticate(store, 'accounts@example.net', 'accounts password'), 'SHA256-CRYPT from Dovecot');
      assert.ok(await authenticate(store, 'legacy@example.org', 'legacy password'), '{PLAIN} converted');
      assert.equal(await authenticate(store, 'old@example.org', 'old password'), null, 'MD5-CRYPT refused');
      const team = await resolveRecipient(store, 'team@example.org');
      assert.equal(team.status, 'local');
      assert.deepEqual(team.status === 'local' ? team.forwards : null, ['friend@elsewhere.test']);
      const user = (await store.accounts.getUser('user@example.net'))!;
      const userInbox = (await store.mail.getMailbox(user.id, 'INBOX'))!;
      assert.equal((await store.mail.listMessages(userInbox.id)).length, 2, 'Maildir found at the vmailbox path');
    } finally {
      await ctx.close();
    }

    const out = join(work, 'export', 'Maildir');
    r = await runCli([...g, 'export', 'maildir', '--user', 'Admin@example.org', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /exported 13 message\(s\) in 10 mailbox\(es\)/);

    const original = join(root, 'vmail/example.org/admin/Maildir');
    const want = await messageFiles(original);
    assert.deepEqual(await messageFiles(out), want, 'same folders, same file names (so the same flags), new/ and cur/ kept');
    for (const f of want) {
      assert.deepEqual(await readFile(join(out, f)), await readFile(join(original, f)), `${f}: same bytes`);
      assert.equal(Math.trunc((await stat(join(out, f))).mtimeMs / 1000), Math.trunc((await stat(join(original, f))).mtimeMs / 1000), `${f}: same mtime`);
    }
    for (const folder of ['', '.Archive.2023', '.Entw&APw-rfe', '.A &- B']) {
      const a = parseUidList(await readFile(join(original, folder, 'dovecot-uidlist'), 'utf8'))!;
      const b = parseUidList(await readFile(join(out, folder, 'dovecot-uidlist'), 'utf8'))!;
      assert.equal(b.uidValidity, a.uidValidity, `${folder}: UIDVALIDITY`);
      const present = new Set((await messageFiles(join(original, folder))).filter((f) => !f.includes('/.') && /^(cur|new)\//.test(f)).map((f) => f.replace(/^(cur|new)\//, '').replace(/:2,.*$/, '')));
      for (const [base, uid] of a.uids) if (present.has(base)) assert.equal(b.uids.get(base), uid, `${folder} ${base}: UID`);
    }
    assert.deepEqual(parseKeywords(await readFile(join(out, 'dovecot-keywords'), 'utf8')), parseKeywords(await readFile(join(original, 'dovecot-keywords'), 'utf8')));
    const subs = parseSubscriptions(await readFile(join(out, 'subscriptions'), 'utf8'));
    for (const s of parseSubscriptions(await readFile(join(original, 'subscriptions'), 'utf8'))) assert.ok(subs.includes(s), `subscribed: ${s}`);

    r = await runCli([...g, 'export', 'maildir', '--user', 'admin@example.org', '--out', out]);
    assert.equal(r.code, 73, 'never exports over existing mail');
    r = await runCli([...g, 'export', 'maildir', '--user', 'ghost@example.org', '--out', join(work, 'ghost')]);
    assert.equal(r.code, 67);
  } finally {
    await inst.cleanup();
    await rm(work, { recursive: true, force: true });
  }
});

test('import postfix-dovecot --maildir that is missing or a file: 66 (EX_NOINPUT) saying so, nothing imported', async () => {
  const work = await mkdtemp(join(tmpdir(), 'mailstack-import-'));
  const inst = await makeInstance();
  const g = ['--config', inst.config, '--passphrase-file', inst.passphraseFile];
  try {
    const root = await copyFixture(work);
    const args = ['import', 'postfix-dovecot', '--vmailbox', join(root, 'postfix/vmailbox'), '--users', join(root, 'dovecot/users')];
    const missing = join(work, 'no-such-dir');
    let r = await runCli([...g, ...args, '--maildir', missing]);
    assert.equal(r.code, 66, r.stderr + r.stdout);
    assert.match(r.stderr, new RegExp(`--maildir ${missing}: no such directory; give the root of Dovecot's mail_location`));
    const file = join(root, 'postfix/vmailbox');
    r = await runCli([...g, ...args, '--maildir', file]);
    assert.equal(r.code, 66, r.stderr + r.stdout);
    assert.match(r.stderr, /--maildir .*vmailbox: not a directory/);
    const ctx = await openContext({ config: inst.config, passphraseFile: inst.passphraseFile });
    try {
      assert.deepEqual(await ctx.store.accounts.listDomains(), [], 'no accounts imported without the mail');
    } finally {
      await ctx.close();
    }
  } finally {
    await inst.cleanup();
    await rm(work, { recursive: true, force: true });
  }
});

test('an interrupted import resumes without duplicates, even when mail arrived in between', async () => {
  const work = await mkdtemp(join(tmpdir(), 'mailstack-resume-'));
  const store = await openStore({ dir: join(work, 'store'), key: randomBytes(32) });
  try {
    const root = await copyFixture(work);
    const src: ImportSources = {
      vmailbox: { name: 'vmailbox', text: await readFile(join(root, 'postfix/vmailbox'), 'utf8') },
      virtual: { name: 'virtual', text: await readFile(join(root, 'postfix/virtual'), 'utf8') },
      users: { name: 'users', text: await readFile(join(root, 'dovecot/users'), 'utf8') },
    };
    const interrupted = new Error('interrupted');
    await assert.rejects(
      importPostfixDovecot(store, src, {
        maildirRoot: join(root, 'vmail'),
        maxMessageBytes: 1 << 20,
        pipelineDepth: 1, // one by one, so that the interruption falls inside INBOX
        onProgress: (done) => {
          if (done === 4) throw interrupted;
        },
      }),
      interrupted,
    );
    const admin = (await store.accounts.getUser('admin@example.org'))!;
    const inbox = (await store.mail.getMailbox(admin.id, 'INBOX'))!;
    const before = await store.mail.listMessages(inbox.id);
    assert.ok(before.length > 0 && before.length < 7, `part of INBOX was imported (${before.length})`);
    // A delivery lands in INBOX before the import is run again.
    await store.mail.append(inbox.id, { raw: Buffer.from('Message-ID: <arrived@example.org>\r\nSubject: new\r\n\r\nhi\r\n') });

    let progressCalls = 0;
    await importPostfixDovecot(store, src, { maildirRoot: join(root, 'vmail'), maxMessageBytes: 1 << 20, onProgress: () => progressCalls++ });
    assert.equal(progressCalls, 15, 'every message of the tree is looked at');
    const after = await store.mail.listMessages(inbox.id);
    const ids: string[] = [];
    for (const m of after) ids.push(/^Message-ID: (.*)$/im.exec((await store.mail.getBody(m.bodyId)).toString('utf8'))?.[1]?.trim() ?? '?');
    assert.equal(new Set(ids).size, ids.length, `no duplicates: ${ids.join(' ')}`);
    assert.equal(after.length, 8, 'the 7 messages of the Dovecot INBOX and the one delivered in between');
    assert.ok(ids.includes('<arrived@example.org>'));
    const again = await importPostfixDovecot(store, src, { maildirRoot: join(root, 'vmail'), maxMessageBytes: 1 << 20 });
    assert.equal(again.counts.messages, 0);
    assert.equal((await store.mail.listMessages(inbox.id)).length, 8);
  } finally {
    await store.close();
    await rm(work, { recursive: true, force: true });
  }
});

test('an import stopped with messages in flight recognises them by their bytes on the next run', async () => {
  const work = await mkdtemp(join(tmpdir(), 'mailstack-resume2-'));
  const store = await openStore({ dir: join(work, 'store'), key: randomBytes(32) });
  try {
    const root = await copyFixture(work);
    const src: ImportSources = {
      vmailbox: { name: 'vmailbox', text: await readFile(join(root, 'postfix/vmailbox'), 'utf8') },
      users: { name: 'users', text: await readFile(join(root, 'dovecot/users'), 'utf8') },
    };
    const stop = new Error('stop');
    await assert.rejects(
      importPostfixDovecot(store, src, {
        maildirRoot: join(root, 'vmail'),
        maxMessageBytes: 1 << 20,
        onProgress: (done) => {
          if (done === 2) throw stop;
        },
      }),
      stop,
    );
    const again = await importPostfixDovecot(store, src, { maildirRoot: join(root, 'vmail'), maxMessageBytes: 1 << 20 });
    const admin = (await store.accounts.getUser('admin@example.org'))!;
    const inbox = (await store.mail.getMailbox(admin.id, 'INBOX'))!;
    assert.deepEqual((await store.mail.listMessages(inbox.id)).map((m) => m.uid), [1, 3, 4, 5, 6, 7, 8]);
    assert.ok(again.counts.alreadyPresent >= 2);
    let total = 0;
    for (const u of await store.accounts.listUsers()) for (const mb of await store.mail.listMailboxes(u.id)) total += (await store.mail.listMessages(mb.id)).length;
    assert.equal(total, 15, 'every message of the tree once');
  } finally {
    await store.close();
    await rm(work, { recursive: true, force: true });
  }
});

test('a folder whose name the store refuses is skipped with a reason; the rest is imported', async () => {
  const work = await mkdtemp(join(tmpdir(), 'mailstack-badname-'));
  const store = await openStore({ dir: join(work, 'store'), key: randomBytes(32) });
  try {
    const maildir = join(work, 'vmail', 'example.org', 'u', 'Maildir');
    for (const folder of ['', '.bad&AAA-', '.good']) for (const sub of ['cur', 'new', 'tmp']) await mkdir(join(maildir, folder, sub), { recursive: true });
    await writeFile(join(maildir, 'cur', '1700000000.M1P1.h:2,S'), 'Subject: a\n\nx\n');
    await writeFile(join(maildir, '.bad&AAA-', 'cur', '1700000001.M2P1.h:2,'), 'Subject: b\n\nx\n');
    await writeFile(join(maildir, '.good', 'new', '1700000002.M3P1.h'), 'Subject: c\n\nx\n');
    const report = await importPostfixDovecot(
      store,
      { vmailbox: { name: 'vmailbox', text: 'u@example.org OK\n' }, users: { name: 'users', text: '' } },
      { maildirRoot: join(work, 'vmail'), maxMessageBytes: 1 << 20 },
    );
    assert.equal(report.counts.messages, 2);
    assert.ok(report.skipped.some((s) => /mailbox ".*" not imported/.test(s.reason)), JSON.stringify(report.skipped));
  } finally {
    await store.close();
    await rm(work, { recursive: true, force: true });
  }
});

test('export refuses, aloud, a mailbox whose name holds "." (Maildir++ would turn it into two levels), and exports the rest', async () => {
  const work = await mkdtemp(join(tmpdir(), 'mailstack-export-dot-'));
  const store = await openStore({ dir: join(work, 'data'), key: randomBytes(32) });
  try {
    await store.accounts.addDomain('example.org');
    const user = await store.accounts.addUser({ address: 'dot@example.org', passwordHash: 'x' });
    for (const name of ['v1.2', 'Work']) {
      const mailbox = await store.mail.createMailbox(user.id, name);
      await store.mail.append(mailbox.id, { raw: Buffer.from(`Subject: in ${name}\r\n\r\nbody\r\n`) });
    }
    const out = join(work, 'out');
    const result = await exportMaildir(store, user, out);
    assert.equal(result.problems.length, 1, JSON.stringify(result.problems));
    assert.match(result.problems[0]!.reason, /mailbox "v1\.2" not exported: .*come back as "v1\/2"/);
    const dirs = (await readdir(out)).filter((n) => n.startsWith('.'));
    assert.ok(dirs.includes('.Work') && !dirs.some((n) => n.startsWith('.v1')), dirs.join(' '));
  } finally {
    await store.close();
    await rm(work, { recursive: true, force: true });
  }
});

test('a Maildir is found under the spelling the account files use: an IDN domain in its xn-- form, a mixed-case user name', async () => {
  const work = await mkdtemp(join(tmpdir(), 'mailstack-import-idn-'));
  const store = await openStore({ dir: join(work, 'data'), key: randomBytes(32) });
  try {
    const root = join(work, 'vmail');
    for (const [domain, user] of [['xn--bcher-kva.example', 'anna'], ['example.org', 'John.Doe']] as const) {
      const maildir = join(root, domain, user, 'Maildir');
      for (const sub of ['cur', 'new', 'tmp']) await mkdir(join(maildir, sub), { recursive: true });
      await writeFile(join(maildir, 'cur', `1700000000.M1P1.host:2,S`), `Subject: for ${user}\n\nhello\n`);
    }
    const src: ImportSources = {
      vmailbox: { name: 'vmailbox', text: 'anna@xn--bcher-kva.example OK\nJohn.Doe@example.org OK\n' },
      users: { name: 'users', text: 'anna@xn--bcher-kva.example:{PLAIN}x-secret-1\nJohn.Doe@example.org:{PLAIN}x-secret-2\n' },
    };
    const report = await importPostfixDovecot(store, src, { maildirRoot: root, maxMessageBytes: 1 << 20 });
    assert.deepEqual(report.notes.filter((n) => /no Maildir/.test(n)), []);
    for (const address of ['anna@bücher.example', 'john.doe@example.org']) {
      const user = (await store.accounts.getUser(address))!;
      assert.ok(user, address);
      const inbox = (await store.mail.getMailbox(user.id, 'INBOX'))!;
      assert.equal((await store.mail.listMessages(inbox.id)).length, 1, address);
    }
  } finally {
    await store.close();
    await rm(work, { recursive: true, force: true });
  }
});

test('a Maildir folder or message file whose name is not UTF-8 is reported, byte by byte, not dropped in silence', async () => {
  const work = await mkdtemp(join(tmpdir(), 'mailstack-import-bytes-'));
  const store = await openStore({ dir: join(work, 'data'), key: randomBytes(32) });
  try {
    const maildir = join(work, 'vmail', 'example.org', 'user', 'Maildir');
    const badFolder = Buffer.concat([Buffer.from(maildir + '/.Caf'), Buffer.from([0xe9])]);
    for (const sub of ['cur', 'new', 'tmp']) {
      await mkdir(join(maildir, sub), { recursive: true });
      await mkdir(Buffer.concat([badFolder, Buffer.from('/' + sub)]), { recursive: true });
    }
    await writeFile(join(maildir, 'cur', '1.M1.host:2,S'), 'Subject: fine\n\nok\n');
    await writeFile(Buffer.concat([Buffer.from(join(maildir, 'cur') + '/2.X'), Buffer.from([0xe9]), Buffer.from('.host:2,S')]), 'Subject: odd name\n\nok\n');
    await writeFile(Buffer.concat([badFolder, Buffer.from('/cur/3.M3.host:2,')]), 'Subject: in the odd folder\n\nok\n');
    const src: ImportSources = { vmailbox: { name: 'vmailbox', text: 'user@example.org OK\n' }, users: { name: 'users', text: 'user@example.org:{PLAIN}x-secret-1\n' } };
    const report = await importPostfixDovecot(store, src, { maildirRoot: join(work, 'vmail'), maxMessageBytes: 1 << 20 });
    const reasons = report.skipped.map((s) => `${s.file}: ${s.reason}`);
    assert.ok(reasons.some((r) => /\/\.Caf\\xe9: the folder name is not valid UTF-8/.test(r)), reasons.join('\n'));
    assert.ok(reasons.some((r) => /\/2\.X\\xe9\.host:2,S: the file name is not valid UTF-8/.test(r)), reasons.join('\n'));
    assert.ok(!reasons.some((r) => /vanished/.test(r)), reasons.join('\n'));
    const user = (await store.accounts.getUser('user@example.org'))!;
    const inbox = (await store.mail.getMailbox(user.id, 'INBOX'))!;
    assert.equal((await store.mail.listMessages(inbox.id)).length, 1, 'the message with a UTF-8 name is imported');
  } finally {
    await store.close();
    await rm(work, { recursive: true, force: true });
  }
});

test('import refuses a binary account file, and shows a skipped line\'s control characters escaped', async () => {
  const work = await mkdtemp(join(tmpdir(), 'mailstack-import-junk-'));
  const inst = await makeInstance();
  try {
    const users = join(work, 'users');
    await writeFile(users, 'user@example.org:{PLAIN}x-secret-1\n');
    const binary = join(work, 'vmailbox.db');
    await writeFile(binary, Buffer.from([0x00, 0x06, 0x15, 0x61, 0x00, 0x00, 0x00, 0x02, 0x0a, 0x75, 0x73, 0x65, 0x72]));
    let r = await runCli(['import', 'postfix-dovecot', '--vmailbox', binary, '--users', users, '--config', inst.config, '--passphrase-file', inst.passphraseFile]);
    assert.equal(r.code, 65, r.stderr);
    assert.match(r.stderr, /a binary file, not a text account file/);

    const vmailbox = join(work, 'vmailbox');
    await writeFile(vmailbox, 'bad\x1b[31mname OK\nuser@example.org OK\n');
    r = await runCli(['import', 'postfix-dovecot', '--dry-run', '--vmailbox', vmailbox, '--users', users, '--config', inst.config, '--passphrase-file', inst.passphraseFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /skipped: .*vmailbox:1: bad\\x1b\[31mname OK/);
    assert.ok(!r.stdout.includes('\x1b'), 'no raw escape character reaches the terminal');
  } finally {
    await inst.cleanup();
    await rm(work, { recursive: true, force: true });
  }
});
