// LMTP (RFC 2033): per-recipient replies over TCP and a unix socket, and a real Postfix delivering into
// mailstack with `virtual_transport = lmtp:inet:127.0.0.1:PORT`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { stat } from 'node:fs/promises';
import { SmtpClient } from './client.ts';
import { message, startSmtpHarness, withSmtpHarness, type SmtpHarness } from './harness.ts';
import { postfixAvailable, startPostfix } from './postfix.ts';

const run = promisify(execFile);

function withHarness(options: Parameters<typeof startSmtpHarness>[0], body: (h: SmtpHarness) => Promise<void>): Promise<void> {
  return withSmtpHarness({ mx: false, lmtp: true, ...options }, body);
}

/** Resolves once `count` messages are in the user's mailbox (change feed, no polling). */
async function waitForMessages(h: SmtpHarness, address: string, count: number): Promise<void> {
  const user = (await h.store.accounts.getUser(address))!;
  const box = (await h.store.mail.getMailbox(user.id, 'INBOX'))!;
  await new Promise<void>((resolve) => {
    let done = false;
    const check = async () => {
      if (done) return;
      if ((await h.store.mail.mailboxStatus(box.id)).messages >= count) {
        done = true;
        unsubscribe();
        resolve();
      }
    };
    const unsubscribe = h.store.changes.subscribe(box.id, () => void check());
    void check();
  });
}

test('LHLO required (HELO refused); one reply per recipient after DATA; unknown refused at RCPT', async () => {
  await withHarness({}, async (h) => {
    const c = await SmtpClient.connect(h.lmtp);
    assert.match((await c.reply()).text, /LMTP/);
    assert.equal((await c.send('HELO mta.example.org')).code, 500);
    assert.equal((await c.send('LHLO mta.example.org')).code, 250);
    assert.equal((await c.send('MAIL FROM:<someone@sender.test>')).code, 250);
    assert.equal((await c.send('RCPT TO:<alice@example.org>')).code, 250);
    const unknown = await c.send('RCPT TO:<nobody@example.org>');
    assert.equal(unknown.code, 550);
    assert.equal(unknown.enhanced, '5.1.1');
    assert.equal((await c.send('RCPT TO:<friend@remote.test>')).code, 550, 'no relaying through LMTP');
    assert.equal((await c.send('RCPT TO:<team@example.org>')).code, 250);
    const first = await c.data(message());
    const second = await c.reply();
    assert.equal(first.code, 250);
    assert.match(first.text, /<alice@example\.org>/);
    assert.equal(second.code, 250);
    assert.match(second.text, /<team@example\.org>/);
    await c.quit();
    assert.equal((await h.messages('alice@example.org')).length, 1);
    const bobs = await h.messages('bob@example.org');
    assert.equal(bobs.length, 1);
    assert.match(bobs[0]!.toString(), /with LMTP id/);
  });
});

test('LMTP over a unix socket; locked store answers 421 at connect', async () => {
  await withHarness({ lmtp: 'unix' }, async (h) => {
    assert.ok('path' in h.lmtp);
    assert.equal((await stat(h.lmtp.path)).mode & 0o777, 0o666, 'Postfix\'s lmtp client (user postfix) can connect');
    const c = await SmtpClient.connect(h.lmtp);
    await c.reply();
    await c.send('LHLO mta.example.org');
    await c.send('MAIL FROM:<>');
    assert.equal((await c.send('RCPT TO:<carol@example.net>')).code, 250);
    assert.equal((await c.data(message())).code, 250);
    await c.quit();
    assert.equal((await h.messages('carol@example.net')).length, 1);
    h.lock();
    const d = await SmtpClient.connect(h.lmtp);
    assert.equal((await d.reply()).code, 421);
    d.destroy();
  });
});

test('over quota: 452 4.2.2 per recipient at RCPT, the others still delivered', async () => {
  await withHarness({}, async (h) => {
    await h.store.accounts.updateUser('bob@example.org', { quotaBytes: 1 });
    // One message makes bob's mailbox full (delivered with quota grace), the next is refused.
    const c = await SmtpClient.connect(h.lmtp);
    await c.reply();
    await c.send('LHLO mta.example.org');
    await c.send('MAIL FROM:<someone@sender.test>');
    assert.equal((await c.send('RCPT TO:<bob@example.org>')).code, 250);
    assert.equal((await c.data(message())).code, 250);
    await c.send('MAIL FROM:<someone@sender.test>');
    const full = await c.send('RCPT TO:<bob@example.org>');
    assert.equal(full.code, 452);
    assert.equal(full.enhanced, '4.2.2');
    assert.equal((await c.send('RCPT TO:<alice@example.org>')).code, 250);
    assert.equal((await c.data(message())).code, 250);
    await c.quit();
    assert.equal((await h.messages('bob@example.org')).length, 1);
    assert.equal((await h.messages('alice@example.org')).length, 1);
  });
});

test('a real Postfix delivers into mailstack over LMTP (virtual_transport = lmtp:inet:...)', { skip: !postfixAvailable() && 'needs root and Debian postfix' }, async () => {
  await withHarness({}, async (h) => {
    assert.ok(!('path' in h.lmtp));
    const postfix = await startPostfix({ transport: `lmtp:inet:127.0.0.1:${h.lmtp.port}`, domains: ['example.org', 'example.net'] });
    try {
      const send = (to: string, subject: string) =>
        run('swaks', ['--silent', '2', '--server', '127.0.0.1', '--port', String(postfix.port), '--from', 'someone@sender.test', '--to', to, '--header', `Subject: ${subject}`]);
      await send('alice@example.org', 'via postfix 1');
      await send('team@example.org', 'via postfix to the team');
      await send('whoever@example.net', 'via postfix catch-all');
      await Promise.all([waitForMessages(h, 'alice@example.org', 2), waitForMessages(h, 'bob@example.org', 1), waitForMessages(h, 'carol@example.net', 1)]);
      const text = (await h.messages('bob@example.org'))[0]!.toString();
      assert.match(text, /Subject: via postfix to the team/);
      assert.match(text, /by relay\.postfix\.test \(Postfix\)/, 'Postfix\'s own Received is kept');
      assert.match(text, /with LMTP id/);
      const log = await postfix.log();
      assert.match(log, /status=sent \(250 2\.0\.0 <alice@example\.org>/);
    } finally {
      await postfix.stop();
    }
  });
});
