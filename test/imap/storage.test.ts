// APPEND on a full disk: NO [OVERQUOTA] (Dovecot's answer to ENOSPC, "Not enough disk space"), the mailbox
// unchanged, and the same APPEND succeeds once space is freed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { message, startHarness } from './harness.ts';
import { fillDisk, freeDisk, mountSmallDisk } from '../helpers/tmpfs.ts';

test('APPEND on a full disk: NO [OVERQUOTA], nothing stored; the same APPEND succeeds once space is freed', async (t) => {
  const disk = await mountSmallDisk(24 * 1024 * 1024);
  if ('refused' in disk) return t.skip(disk.refused);
  try {
    const h = await startHarness({ parentDir: disk.dir });
    try {
      const c = await h.client();
      await c.ok('SELECT INBOX');
      // ~60 KB: a body file record, which needs new space on disk.
      const msg = message('full disk', 'A'.repeat(74).concat('\r\n').repeat(800));
      const append = `APPEND INBOX {${Buffer.byteLength(msg)}+}\r\n${msg}`;
      const filler = fillDisk(disk.dir);
      const refused = await c.command(append);
      assert.match(refused.tagged, /^A\d+ NO \[OVERQUOTA\] .*(ENOSPC|full)/);
      assert.equal((await h.store.mail.mailboxStatus((await h.store.mail.getMailbox(h.user.id, 'INBOX'))!.id)).messages, 0);
      freeDisk(filler);
      const accepted = await c.ok(append);
      assert.match(accepted.tagged, /OK \[APPENDUID \d+ 1\]/);
    } finally {
      await h.close();
    }
  } finally {
    await disk.unmount();
  }
});
