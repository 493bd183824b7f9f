// The ENVELOPE rendered at delivery (schema 4) is what rendering the stored summary gives, and is left out
// (null, the summary returned instead) where the UTF8=ACCEPT form would differ.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { openStore } from '../../src/store/index.ts';
import { openDatabase } from '../../src/store/sqlite/connection.ts';
import { renderEnvelope } from '../../src/mime/index.ts';
import { tempDir } from './helpers.ts';

test('getEnvelopes: the stored ENVELOPE equals the one rendered from the summary; 8-bit headers and older rows fall back to the summary', async () => {
  const dir = await tempDir();
  const key = randomBytes(32);
  let store = await openStore({ dir, key });
  try {
    await store.accounts.addDomain('example.test');
    const user = await store.accounts.addUser({ address: 'ann@example.test', passwordHash: 'h' });
    const inbox = (await store.mail.getMailbox(user.id, 'INBOX'))!;
    const ascii = Buffer.from('From: "Bob (the) Builder" <bob@example.net>\r\nTo: ann@example.test, "Cee" <c@example.org>\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= and "quotes"\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\nMessage-ID: <a@example.net>\r\n\r\nhi\r\n');
    const eightBit = Buffer.from('From: Zoë <zoe@example.net>\r\nSubject: Grüße\r\n\r\nhi\r\n');
    const big = Buffer.concat([Buffer.from('From: big@example.net\r\nSubject: large\r\n\r\n'), Buffer.from(randomBytes(12_000).toString('base64'))]);
    for (const raw of [ascii, eightBit, big]) await store.mail.append(inbox.id, { raw });

    const withSummaries = await store.mail.getMessages(inbox.id, [1, 2, 3]);
    const withEnvelopes = await store.mail.getEnvelopes(inbox.id, [1, 2, 3]);
    assert.deepEqual(
      withEnvelopes.map((m) => m.uid),
      [1, 2, 3],
    );
    for (const uid of [1, 3]) {
      const m = withEnvelopes.find((x) => x.uid === uid)!;
      const summary = withSummaries.find((x) => x.uid === uid)!.summary;
      assert.equal(m.envelope, renderEnvelope(summary.envelope, false), `uid ${uid}`);
      assert.equal(m.envelope, renderEnvelope(summary.envelope, true), `uid ${uid}: one form for both modes`);
      assert.equal(m.summary, null, 'no summary read where the envelope is stored');
    }
    const eight = withEnvelopes.find((x) => x.uid === 2)!;
    assert.equal(eight.envelope, null, 'the UTF8=ACCEPT form differs: not stored');
    assert.deepEqual(eight.summary, withSummaries.find((x) => x.uid === 2)!.summary);

    // A body stored before schema 4 has no envelope: the summary comes instead.
    await store.close();
    const db = openDatabase(dir, key);
    db.prepare('UPDATE bodies SET envelope = NULL').run();
    db.close();
    store = await openStore({ dir, key });
    const old = await store.mail.getEnvelopes(inbox.id, [1]);
    assert.equal(old[0]!.envelope, null);
    assert.deepEqual(old[0]!.summary, withSummaries[0]!.summary);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
