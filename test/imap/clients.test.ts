// Real mail clients from Debian against the mailstack IMAP server over TLS (the test's own self-signed
// certificate, verified by each client): mbsync (isync) and offlineimap mirror a 1,000-message mailbox both
// ways; mutt reads, flags and moves. Each tool runs headless with its config in a temp dir, bounded in time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, renameSync, writeFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { startHarness, PASSWORD, type Harness } from './harness.ts';

const MESSAGES = 1000;
const TOOL_TIMEOUT_MS = 120_000;

function installed(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
}

function run(bin: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(bin, args, { timeout: TOOL_TIMEOUT_MS, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

function mail(i: number): string {
  return `From: Sender ${i} <sender${i}@example.com>\r\nTo: alice@example.org\r\nSubject: message number ${i}\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <msg${i}@example.com>\r\n\r\nBody of message ${i}.\r\n`;
}

async function fill(h: Harness, count: number): Promise<void> {
  // Concurrent deliveries share the store's group commit.
  for (let i = 0; i < count; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, count - i) }, (_, j) => h.deliver(mail(i + j + 1))));
  }
}

function maildirFiles(dir: string): string[] {
  return [...readdirSync(join(dir, 'cur')).map((f) => join(dir, 'cur', f)), ...readdirSync(join(dir, 'new')).map((f) => join(dir, 'new', f))];
}

async function inbox(h: Harness): Promise<{ uid: number; flags: string[] }[]> {
  const mb = await h.store.mail.getMailbox(h.user.id, 'INBOX');
  const list = await h.store.mail.listMessages(mb!.id);
  return list.map((m) => ({ uid: m.uid, flags: [...m.flags] }));
}

test('mbsync mirrors a 1,000-message mailbox both ways over TLS', { skip: installed('mbsync') ? false : 'mbsync (isync) is not installed' }, async (t) => {
  const h = await startHarness({ maxMessageBytes: 1024 * 1024 });
  t.after(() => h.close());
  await fill(h, MESSAGES);
  const local = join(h.dir, 'mbsync-mail');
  mkdirSync(local);
  writeFileSync(join(h.dir, 'cert-ca.pem'), h.runtime.tls.cert);
  writeFileSync(join(h.dir, 'pass'), PASSWORD);
  const conf = join(h.dir, 'mbsyncrc');
  writeFileSync(
    conf,
    `IMAPAccount ms
Host localhost
Port ${h.tlsPort}
User ${h.user.address}
PassCmd "cat ${join(h.dir, 'pass')}"
SSLType IMAPS
CertificateFile ${join(h.dir, 'cert-ca.pem')}

IMAPStore remote
Account ms

MaildirStore local
Path ${local}/
Inbox ${local}/INBOX

Channel mirror
Far :remote:
Near :local:
Patterns INBOX
Create Both
Expunge Both
Sync All
SyncState *
`,
  );
  const first = await run('mbsync', ['-c', conf, '-a']);
  assert.equal(first.code, 0, `mbsync failed:\n${first.stdout}\n${first.stderr}`);
  const files = maildirFiles(join(local, 'INBOX'));
  assert.equal(files.length, MESSAGES);

  // Local changes: mark 10 seen and flagged, delete 5, add one new message.
  const all = maildirFiles(join(local, 'INBOX')).sort();
  for (const f of all.slice(0, 10)) renameSync(f, join(local, 'INBOX', 'cur', f.split('/').pop()!.replace(/:2,.*$/, '') + ':2,FS'));
  for (const f of all.slice(10, 15)) unlinkSync(f);
  writeFileSync(join(local, 'INBOX', 'new', `${Date.now()}.local.mailstack-test`), mail(MESSAGES + 1).replace(/\r\n/g, '\n'));
  // And a change on the server: flag the last message.
  const before = await inbox(h);
  const mb = await h.store.mail.getMailbox(h.user.id, 'INBOX');
  await h.store.mail.updateFlags(mb!.id, [before[before.length - 1]!.uid], 'add', ['\\Answered']);

  const second = await run('mbsync', ['-c', conf, '-a']);
  assert.equal(second.code, 0, `mbsync failed:\n${second.stdout}\n${second.stderr}`);
  const after = await inbox(h);
  assert.equal(after.length, MESSAGES - 5 + 1, 'five expunged, one appended');
  assert.equal(after.filter((m) => m.flags.includes('\\Flagged') && m.flags.includes('\\Seen')).length, 10);
  const localAfter = maildirFiles(join(local, 'INBOX'));
  assert.equal(localAfter.length, MESSAGES - 5 + 1);
  assert.equal(localAfter.filter((f) => /:2,[A-Z]*R/.test(f)).length, 1, 'the server-side \\Answered reached the local copy');
});

test('offlineimap mirrors a 1,000-message mailbox both ways over TLS', { skip: installed('offlineimap') ? false : 'offlineimap is not installed' }, async (t) => {
  const h = await startHarness({ maxMessageBytes: 1024 * 1024 });
  t.after(() => h.close());
  await fill(h, MESSAGES);
  const local = join(h.dir, 'offlineimap-mail');
  writeFileSync(join(h.dir, 'cert-ca.pem'), h.runtime.tls.cert);
  const conf = join(h.dir, 'offlineimaprc');
  writeFileSync(
    conf,
    `[general]
accounts = test
metadata = ${join(h.dir, 'offlineimap-meta')}

[Account test]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = ${local}

[Repository remote]
type = IMAP
remotehost = localhost
remoteport = ${h.tlsPort}
remoteuser = ${h.user.address}
remotepass = ${PASSWORD}
ssl = yes
sslcacertfile = ${join(h.dir, 'cert-ca.pem')}
folderfilter = lambda f: f == 'INBOX'
maxconnections = 1
`,
  );
  const args = ['-c', conf, '-o', '-u', 'basic'];
  const first = await run('offlineimap', args);
  assert.equal(first.code, 0, `offlineimap failed:\n${first.stdout}\n${first.stderr}`);
  const dir = join(local, 'INBOX');
  assert.equal(maildirFiles(dir).length, MESSAGES);

  // Unread messages sit in new/, read ones in cur/: change both kinds (a flag change moves a file to cur/).
  const all = maildirFiles(dir).sort();
  for (const f of all.slice(0, 10)) renameSync(f, join(dir, 'cur', f.split('/').pop()!.replace(/:2,.*$/, '') + ':2,FS'));
  for (const f of all.slice(10, 15)) unlinkSync(f);
  writeFileSync(join(dir, 'new', `${Date.now()}_0.${process.pid}.local`), mail(MESSAGES + 1).replace(/\r\n/g, '\n'));

  const second = await run('offlineimap', args);
  assert.equal(second.code, 0, `offlineimap failed:\n${second.stdout}\n${second.stderr}`);
  const after = await inbox(h);
  assert.equal(after.length, MESSAGES - 5 + 1, 'five expunged, one appended');
  assert.equal(after.filter((m) => m.flags.includes('\\Flagged') && m.flags.includes('\\Seen')).length, 10);
});

test('mutt reads, flags and moves over TLS', { skip: installed('mutt') && installed('script') ? false : 'mutt or script (util-linux) is not installed' }, async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  for (let i = 1; i <= 3; i++) await h.deliver(mail(i));
  writeFileSync(join(h.dir, 'cert-ca.pem'), h.runtime.tls.cert);
  const rc = join(h.dir, 'muttrc');
  writeFileSync(
    rc,
    `set imap_user="${h.user.address}"
set imap_pass="${PASSWORD}"
set folder="imaps://localhost:${h.tlsPort}/"
set spoolfile="+INBOX"
set certificate_file="${join(h.dir, 'cert-ca.pem')}"
set ssl_force_tls=yes
set ssl_verify_host=yes
set header_cache=""
set message_cachedir=""
set sort=mailbox-order
set resolve=no
set confirmappend=no
set confirmcreate=no
set delete=yes
set move=no
set quit=yes
set wait_key=no
set pager_stop=yes
set mark_old=no
set beep=no
set record=""
set mail_check=3600
set imap_check_subscribed=no
`,
  );
  // Read message 1, flag message 2, move message 3 to Archive, write the changes, quit.
  const keys = '<first-entry><display-message><exit><next-entry><flag-message><next-entry><save-message>=Archive<enter><sync-mailbox><quit>';
  const cmd = `mutt -n -F ${rc} -e 'push "${keys}"'`;
  // script(1) gives mutt the terminal it insists on; TERM fixed so the screen handling is predictable.
  const r = await run('script', ['-qfec', cmd, '/dev/null'], { TERM: 'vt100', COLUMNS: '120', LINES: '40' });
  assert.equal(r.code, 0, `mutt failed (${r.code}):\n${r.stdout.slice(-2000)}\n${r.stderr}`);
  const box = await inbox(h);
  assert.equal(box.length, 2, 'message 3 left INBOX');
  assert.ok(box[0]!.flags.includes('\\Seen'), 'message 1 was read');
  assert.ok(box[1]!.flags.includes('\\Flagged'), 'message 2 was flagged');
  assert.ok(!box[1]!.flags.includes('\\Seen'), 'message 2 was not opened');
  const archive = await h.store.mail.getMailbox(h.user.id, 'Archive');
  const moved = await h.store.mail.listMessages(archive!.id);
  assert.equal(moved.length, 1);
  const [withSummary] = await h.store.mail.getMessages(archive!.id, [moved[0]!.uid]);
  assert.equal(withSummary!.summary.envelope.subject, 'message number 3');
});
