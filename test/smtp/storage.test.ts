// Disk space and SMTP: MAIL FROM is refused with 452 4.3.1 while the store's file system has less free space
// than [store] min_free_bytes (or 1.5 x max_message_bytes), on every listener; and a disk that fills during a
// transaction gets 452 4.3.1 at the end of DATA, with nothing acknowledged that was not stored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTransport } from 'nodemailer';
import { SmtpClient } from './client.ts';
import { message, PASSWORDS, withSmtpHarness, type SmtpHarness } from './harness.ts';
import { fillDisk, freeDisk, mountSmallDisk } from '../helpers/tmpfs.ts';
import { FREE_SPACE_RECHECK_MS } from '../../src/smtp/storage.ts';

/** The MAIL FROM check reads the free space at most once per FREE_SPACE_RECHECK_MS. */
function pastFreeSpaceCache(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, FREE_SPACE_RECHECK_MS + 100));
}

const withHarness = withSmtpHarness;

async function mailFrom(at: { host: string; port: number } | { path: string }, greeting: 'EHLO' | 'LHLO'): Promise<{ client: SmtpClient; code: number; enhanced: string | null }> {
  const client = await SmtpClient.connect(at);
  assert.equal((await client.reply()).code, 220);
  assert.equal((await client.send(`${greeting} client.sender.test`)).code, 250);
  const reply = await client.send('MAIL FROM:<someone@sender.test>');
  return { client, code: reply.code, enhanced: reply.enhanced };
}

function submit(h: SmtpHarness): Promise<unknown> {
  const transport = createTransport({
    host: h.submission.host,
    port: h.submission.port,
    secure: false,
    requireTLS: true,
    tls: { rejectUnauthorized: false },
    auth: { user: 'alice@example.org', pass: PASSWORDS.alice },
  });
  return transport.sendMail({ envelope: { from: 'alice@example.org', to: ['bob@example.org'] }, raw: message() });
}

test('too little free space: MAIL FROM refused 452 4.3.1 on MX, submission and LMTP; accepted once the threshold is met', async () => {
  // More free space than any disk here has.
  await withHarness({ submission: true, lmtp: true, config: { store: { min_free_bytes: Number.MAX_SAFE_INTEGER } } }, async (h) => {
    for (const [at, greeting] of [[h.mx, 'EHLO'], [h.lmtp, 'LHLO']] as const) {
      const { client, code, enhanced } = await mailFrom(at, greeting);
      assert.equal(code, 452);
      assert.equal(enhanced, '4.3.1');
      client.destroy();
    }
    await assert.rejects(submit(h), (error: { responseCode?: number; response?: string }) => error.responseCode === 452 && /4\.3\.1/.test(error.response ?? ''));

    h.runtime.config.store.min_free_bytes = 0;
    const { client, code } = await mailFrom(h.mx, 'EHLO');
    assert.equal(code, 250);
    assert.equal((await client.send('RCPT TO:<bob@example.org>')).code, 250);
    assert.equal((await client.data(message())).code, 250);
    await client.quit();
    await submit(h);
    assert.equal((await h.messages('bob@example.org')).length, 2);
  });
});

test('the disk fills during a transaction: DATA answered 452 4.3.1, nothing stored from it; the retry goes through once space is back', async (t) => {
  const disk = await mountSmallDisk(32 * 1024 * 1024);
  if ('refused' in disk) return t.skip(disk.refused);
  try {
    // max_message_bytes 1 MB: MAIL FROM wants 1.5 MB free, which the small disk has until it is filled.
    await withHarness({ parentDir: disk.dir, config: { store: { max_message_bytes: 1_000_000 } } }, async (h) => {
      // ~90 KB: a body file record, which needs new space on disk.
      const body = message({ body: 'A'.repeat(74).concat('\r\n').repeat(1200) });
      const { client, code } = await mailFrom(h.mx, 'EHLO');
      assert.equal(code, 250);
      assert.equal((await client.send('RCPT TO:<bob@example.org>')).code, 250);
      const filler = fillDisk(disk.dir);
      const refused = await client.data(body);
      assert.equal(refused.code, 452, refused.text);
      assert.equal(refused.enhanced, '4.3.1');
      assert.equal(await h.totalMessages(), 0, 'nothing stored, nothing acknowledged');

      // Still full: once the free-space check looks again, MAIL FROM is refused before the client sends anything.
      await pastFreeSpaceCache();
      const early = await client.send('MAIL FROM:<someone@sender.test>');
      assert.equal(early.code, 452);

      freeDisk(filler);
      await pastFreeSpaceCache();
      assert.equal((await client.send('MAIL FROM:<someone@sender.test>')).code, 250);
      assert.equal((await client.send('RCPT TO:<bob@example.org>')).code, 250);
      assert.equal((await client.data(body)).code, 250);
      await client.quit();
      const stored = await h.messages('bob@example.org');
      assert.equal(stored.length, 1);
      assert.ok(stored[0]!.toString('latin1').endsWith(body), 'the retried message, byte for byte after the trace fields');
    });
  } finally {
    await disk.unmount();
  }
});
