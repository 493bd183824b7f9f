// The whole program as a self-hoster runs it: `mailstack serve` in a child process, administered through the
// CLI over the admin socket, mail in through the MX with nodemailer, mail out through IMAP with imapflow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { once } from 'node:events';
import nodemailer from 'nodemailer';
import { ImapFlow } from 'imapflow';
import { runCli, startServe, makeInstance } from '../helpers/cli.ts';

interface Status {
  locked: boolean;
  listening: { name: string; address: string; port: number }[];
}

async function status(config: string): Promise<Status> {
  const r = await runCli(['status', '--json', '--config', config]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Status;
}

function port(s: Status, name: string): number {
  const l = s.listening.find((x) => x.name === name);
  assert.ok(l, `no ${name} listener in ${JSON.stringify(s.listening)}`);
  return l.port;
}

/** The first line a server sends on a fresh connection. */
async function greeting(p: number, tls = false): Promise<string> {
  const socket = tls ? tlsConnect({ host: '127.0.0.1', port: p, rejectUnauthorized: false }) : netConnect({ host: '127.0.0.1', port: p });
  socket.setEncoding('utf8');
  let text = '';
  socket.on('data', (d: string) => (text += d));
  await Promise.race([once(socket, 'end'), once(socket, 'close'), new Promise((r) => socket.once('data', r))]);
  socket.destroy();
  return text.split('\r\n')[0] ?? '';
}

const MESSAGE = 'From: sender@remote.test\r\nTo: postmaster@example.test\r\nSubject: end to end\r\nMessage-ID: <e2e@remote.test>\r\n\r\nthe body line\r\n';

test('locked server refuses with temporary failures; unlocked it receives mail that IMAP reads, and survives kill -9', async () => {
  const inst = await makeInstance();
  let server = await startServe(['--config', inst.config]);
  try {
    const locked = await status(inst.config);
    assert.equal(locked.locked, true);
    assert.match(await greeting(port(locked, 'smtp')), /^421 /, 'SMTP says 421 while locked');
    assert.match(await greeting(port(locked, 'imaps'), true), /^\* BYE /, 'IMAP says BYE while locked');
    const lockedDeliver = await runCli(['deliver', '--config', inst.config, '--to', 'alice@example.test'], { input: MESSAGE });
    assert.equal(lockedDeliver.code, 75, `deliver exits EX_TEMPFAIL while locked: ${lockedDeliver.stderr}`);

    assert.equal((await runCli(['unlock', '--config', inst.config, '--passphrase-file', inst.passphraseFile])).code, 0);
    for (const args of [
      ['domain', 'add', 'example.test'],
      ['user', 'add', 'alice@example.test', '--password-stdin'],
      ['alias', 'add', 'postmaster@example.test', 'alice@example.test'],
    ]) {
      const r = await runCli([...args, '--config', inst.config], { input: 'alice secret password\n' });
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
    const open = await status(inst.config);
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: port(open, 'smtp'), secure: false, tls: { rejectUnauthorized: false }, name: 'client.remote.test' });
    const info = await transport.sendMail({ envelope: { from: 'sender@remote.test', to: ['postmaster@example.test'] }, raw: MESSAGE });
    assert.match(info.response, /^250 /);

    const imap = new ImapFlow({ host: '127.0.0.1', port: port(open, 'imaps'), secure: true, tls: { rejectUnauthorized: false }, auth: { user: 'alice@example.test', pass: 'alice secret password' }, logger: false });
    await imap.connect();
    const lock = await imap.getMailboxLock('INBOX');
    try {
      const msg = await imap.fetchOne('1', { envelope: true, source: true });
      assert.ok(msg);
      assert.equal(msg.envelope?.subject, 'end to end');
      const source = msg.source?.toString() ?? '';
      assert.match(source, /^Return-Path: <sender@remote\.test>/m);
      assert.match(source, /^Delivered-To: alice@example\.test/m);
      assert.match(source, /the body line/);
    } finally {
      lock.release();
      await imap.logout();
    }
  } finally {
    server.child.kill('SIGKILL');
    await once(server.child, 'exit');
  }

  // kill -9 and start again: the acknowledged message is still there.
  server = await startServe(['--config', inst.config]);
  try {
    assert.equal((await runCli(['unlock', '--config', inst.config, '--passphrase-file', inst.passphraseFile])).code, 0);
    const s = await status(inst.config);
    const imap = new ImapFlow({ host: '127.0.0.1', port: port(s, 'imaps'), secure: true, tls: { rejectUnauthorized: false }, auth: { user: 'alice@example.test', pass: 'alice secret password' }, logger: false });
    await imap.connect();
    const box = await imap.mailboxOpen('INBOX');
    assert.equal(box.exists, 1);
    await imap.logout();
  } finally {
    await server.stop();
    await inst.cleanup();
  }
});
