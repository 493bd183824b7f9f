// Access control in front of the real submission listener (SMTP AUTH), driven by nodemailer from chosen
// loopback source addresses: failed AUTH attempts ban the source on the client listeners, port 25 stays open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTransport } from 'nodemailer';
import { startSmtpHarness, PASSWORDS } from '../smtp/harness.ts';
import { accessConfig, greets, importFixture } from './harness.ts';
import { createAccessControl } from '../../src/access/index.ts';
import { silentLogger } from '../../src/log/index.ts';

const POLICY = `
[access]
exempt_loopback = false
client_countries = ["DE", "AT"]
source_delay_ms = 0
`;

test('5 failed SMTP AUTH attempts (nodemailer) ban the source on submission, not on port 25; the owner still sends', async () => {
  const h = await startSmtpHarness({ submission: true });
  await importFixture(h.store);
  const access = createAccessControl({ config: accessConfig(POLICY), store: () => h.store, log: silentLogger(), events: h.runtime.events });
  await access.reload();
  h.runtime.guard = access;
  const transport = (from: string, user: string, pass: string) =>
    createTransport({ host: '127.0.0.1', port: h.submissionTls.port, secure: true, localAddress: from, tls: { rejectUnauthorized: false }, auth: { user, pass } });
  try {
    assert.equal(await greets(h.submissionTls.port, '127.0.0.20'), false, 'CN refused on submission');
    assert.equal(await greets(h.mx.port, '127.0.0.20'), true, 'CN greeted on port 25');

    const attacker = '127.0.0.76'; // DE
    for (let i = 0; i < 4; i++) {
      await assert.rejects(transport(attacker, 'alice@example.org', `guess-${i}`).verify(), (err: Error & { code?: string }) => err.code === 'EAUTH');
    }
    assert.deepEqual(access.listBans(), []);
    // The fifth failure bans the source, and the ban closes its session at once (before the 535 reply).
    await assert.rejects(transport(attacker, 'alice@example.org', 'guess-4').verify(), /Connection closed|EAUTH/);
    assert.deepEqual(access.listBans().map((b) => b.target), [attacker]);
    assert.equal(h.authFailures.length, 5);
    await assert.rejects(transport(attacker, 'alice@example.org', PASSWORDS.alice).verify(), 'banned: even the right password does not get in');
    assert.equal(await greets(h.submission.port, attacker), false, 'banned on the STARTTLS submission port too');
    assert.equal(await greets(h.mx.port, attacker), true, 'port 25 keeps receiving mail');

    // The account was attacked but not locked: its owner, from another allowed address, sends.
    const info = await transport('127.0.0.77', 'alice@example.org', PASSWORDS.alice).sendMail({
      from: 'alice@example.org',
      to: 'bob@example.org',
      subject: 'still here',
      text: 'hello',
    });
    assert.equal(info.rejected.length, 0);
  } finally {
    await access.close();
    await h.close();
  }
});
