// Submission on 587 (STARTTLS) and 465 (implicit TLS): AUTH only under TLS, failed logins reported, sender
// ownership, signing through the DKIM port, local delivery and queueing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createTransport } from 'nodemailer';
import { SmtpClient } from './client.ts';
import { message, PASSWORDS, startSmtpHarness, withSmtpHarness, type SmtpHarness } from './harness.ts';

const run = promisify(execFile);
const plain = (user: string, password: string) => Buffer.from(`\0${user}\0${password}`).toString('base64');

function withHarness(options: Parameters<typeof startSmtpHarness>[0], body: (h: SmtpHarness) => Promise<void>): Promise<void> {
  return withSmtpHarness({ submission: true, mx: false, ...options }, body);
}

async function loggedIn(h: SmtpHarness, user = 'alice@example.org', password: string = PASSWORDS.alice): Promise<SmtpClient> {
  const c = await SmtpClient.connect(h.submission);
  await c.reply();
  await c.send('EHLO laptop.example.org');
  assert.equal((await c.starttls()).code, 220);
  await c.send('EHLO laptop.example.org');
  const auth = await c.send(`AUTH PLAIN ${plain(user, password)}`);
  assert.equal(auth.code, 235, auth.text);
  return c;
}

test('587 before STARTTLS: AUTH not advertised and refused; MAIL refused 530 5.7.0', async () => {
  await withHarness({}, async (h) => {
    const c = await SmtpClient.connect(h.submission);
    await c.reply();
    const ehlo = await c.send('EHLO laptop.example.org');
    assert.ok(ehlo.lines.some((l) => l.includes('STARTTLS')));
    assert.ok(!ehlo.lines.some((l) => l.slice(4).startsWith('AUTH')), ehlo.text);
    assert.ok((await c.send(`AUTH PLAIN ${plain('alice@example.org', PASSWORDS.alice)}`)).code >= 500);
    const mail = await c.send('MAIL FROM:<alice@example.org>');
    assert.equal(mail.code, 530);
    assert.equal(mail.enhanced, '5.7.0');
    assert.equal(h.authFailures.length, 0);
    await c.starttls();
    const after = await c.send('EHLO laptop.example.org');
    assert.ok(after.lines.some((l) => /^250[ -]AUTH PLAIN LOGIN/.test(l)), after.text);
    await c.quit();
  });
});

test('nodemailer submits over STARTTLS: signed, delivered locally and queued for remote', async () => {
  const signed: string[] = [];
  await withHarness(
    {
      sign: async (raw, domain) => {
        signed.push(domain);
        return Buffer.concat([Buffer.from(`DKIM-Signature: v=1; d=${domain}; s=test; b=fake\r\n`), raw]);
      },
    },
    async (h) => {
      const transport = createTransport({ host: h.submission.host, port: h.submission.port, secure: false, requireTLS: true, tls: { rejectUnauthorized: false }, auth: { user: 'alice@example.org', pass: PASSWORDS.alice } });
      const info = await transport.sendMail({ from: 'Alice <alice@example.org>', to: ['bob@example.org', 'friend@remote.test'], subject: 'hello both', text: 'hi' });
      assert.deepEqual(info.accepted.sort(), ['bob@example.org', 'friend@remote.test']);
      transport.close();
      assert.deepEqual(signed, ['example.org']);
      const [local] = await h.messages('bob@example.org');
      assert.match(local!.toString(), /DKIM-Signature: v=1; d=example\.org/);
      assert.match(local!.toString(), /with ESMTPSA id/);
      assert.equal(h.queued.length, 1);
      assert.deepEqual(h.queued[0]!.recipients, ['friend@remote.test']);
      assert.equal(h.queued[0]!.sender, 'alice@example.org');
      assert.match(h.queued[0]!.raw.toString(), /^DKIM-Signature: v=1; d=example\.org/);
    },
  );
});

test('failed logins: 535 5.7.8, an auth-failure event per attempt, 421 after the limit', async () => {
  await withHarness({}, async (h) => {
    const c = await SmtpClient.connect(h.submission);
    await c.reply();
    await c.send('EHLO laptop.example.org');
    await c.starttls();
    await c.send('EHLO laptop.example.org');
    const first = await c.send(`AUTH PLAIN ${plain('alice@example.org', 'wrong')}`);
    assert.equal(first.code, 535);
    assert.equal(first.enhanced, '5.7.8');
    assert.equal((await c.send(`AUTH PLAIN ${plain('nobody@example.org', 'wrong')}`)).code, 535);
    assert.equal((await c.send(`AUTH PLAIN ${plain('alice@example.org', 'again')}`)).code, 421);
    c.destroy();
    assert.equal(h.authFailures.length, 3);
    assert.deepEqual(h.authFailures[0], { protocol: 'submission', listener: 'submission', remoteAddress: '127.0.0.1', account: 'alice@example.org' });
    assert.equal(h.authFailures[1]!.account, 'nobody@example.org');
    assert.ok(!JSON.stringify(h.authFailures).includes('wrong'), 'no password in the event');
  });
});

test('a failed AUTH is answered at a deadline from its arrival: the password check is taken out of the delay', async () => {
  // The real clock for now(), but sleeps are recorded and skipped: the test needs no sleeping, and sees
  // how long the server meant to wait after the (real, cost-12 dummy) check of an unknown login.
  const slept: number[] = [];
  const clock = { now: () => performance.now(), sleep: async (ms: number) => void slept.push(ms) };
  const delayMs = 5000;
  const guard = { admit: () => true, loginDelayMs: () => delayMs };
  await withHarness({ clock, guard }, async (h) => {
    const c = await SmtpClient.connect(h.submission);
    await c.reply();
    await c.send('EHLO laptop.example.org');
    await c.starttls();
    await c.send('EHLO laptop.example.org');
    const sent = performance.now();
    assert.equal((await c.send(`AUTH PLAIN ${plain('nobody@example.org', 'wrong')}`)).code, 535);
    const roundTripMs = performance.now() - sent;
    c.destroy();
    assert.equal(slept.length, 1);
    // Sleeping the whole delay after the check would answer delayMs + the check's time after arrival.
    assert.ok(slept[0]! < delayMs, `slept ${slept[0]} ms of a ${delayMs} ms delay after the check`);
    assert.ok(slept[0]! >= delayMs - roundTripMs, `slept ${slept[0]} ms: the deadline began before the AUTH was sent`);
  });
});

test('sender must be the user\'s own address or alias (553 5.7.1); enforceSender=false lifts it', async () => {
  await withHarness({}, async (h) => {
    const c = await loggedIn(h);
    const mismatch = await c.send('MAIL FROM:<bob@example.org>');
    assert.equal(mismatch.code, 553);
    assert.equal(mismatch.enhanced, '5.7.1');
    assert.equal((await c.send('MAIL FROM:<postmaster@example.org>')).code, 250, 'an alias that reaches alice');
    await c.send('RSET');
    assert.equal((await c.send('MAIL FROM:<alice+lists@example.org>')).code, 250, 'her own +tag');
    await c.quit();
    await h.store.accounts.updateUser('alice@example.org', { enforceSender: false });
    const d = await loggedIn(h);
    assert.equal((await d.send('MAIL FROM:<bob@example.org>')).code, 250);
    await d.quit();
  });
});

test('unknown local recipient refused 550 5.1.1 on submission too', async () => {
  await withHarness({}, async (h) => {
    const c = await loggedIn(h);
    await c.send('MAIL FROM:<alice@example.org>');
    const r = await c.send('RCPT TO:<nobody@example.org>');
    assert.equal(r.code, 550);
    assert.equal(r.enhanced, '5.1.1');
    await c.quit();
  });
});

test('465 implicit TLS with Python smtplib (AUTH LOGIN)', async () => {
  await withHarness({}, async (h) => {
    const script = `
import smtplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP_SSL('${h.submissionTls.host}', ${h.submissionTls.port}, context=ctx, local_hostname='laptop.example.org')
s.ehlo()
s.login('bob@example.org', '${PASSWORDS.bob}')
s.sendmail('bob@example.org', ['alice@example.org'], ${JSON.stringify(message({ from: 'bob@example.org', subject: 'over 465' }))})
s.quit()
`;
    await run('python3', ['-c', script]);
    const [stored] = await h.messages('alice@example.org');
    assert.match(stored!.toString(), /Subject: over 465/);
    assert.match(stored!.toString(), /with ESMTPSA id/);
  });
});

test('swaks submits with STARTTLS and AUTH LOGIN', async () => {
  await withHarness({}, async (h) => {
    const { stdout } = await run('swaks', [
      '--server', h.submission.host, '--port', String(h.submission.port), '--tls', '--auth', 'LOGIN',
      '--auth-user', 'carol@example.net', '--auth-password', PASSWORDS.carol,
      '--from', 'carol@example.net', '--to', 'alice@example.org', '--header', 'Subject: swaks submission',
    ]);
    assert.match(stdout, /<~\s+235/);
    assert.equal((await h.messages('alice@example.org')).length, 1);
  });
});

test('locked store: 421 at connect on submission', async () => {
  await withHarness({}, async (h) => {
    h.lock();
    const c = await SmtpClient.connect(h.submission);
    assert.equal((await c.reply()).code, 421);
    c.destroy();
  });
});
