// Several sessions on one mailbox: each sees the others' changes (EXISTS, EXPUNGE / VANISHED, FETCH FLAGS)
// only where RFC 9051 7.4.1 allows; IDLE reports a delivery at once; CONDSTORE and QRESYNC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, message } from './harness.ts';
import { sessionBugs } from '../../src/imap/index.ts';

test('concurrent sessions', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  for (let i = 1; i <= 4; i++) await h.deliver(message(`M${i}`));
  const a = await h.client();
  const b = await h.client();
  await a.ok('SELECT INBOX');
  await b.ok('SELECT INBOX');

  await t.test('flag changes and new mail are reported at NOOP', async () => {
    await a.ok('STORE 2 +FLAGS (\\Flagged)');
    await h.deliver(message('M5'));
    const r = await b.ok('NOOP');
    assert.ok(r.untagged.includes('* 2 FETCH (UID 2 FLAGS (\\Flagged))'), r.untagged.join('\n'));
    assert.ok(r.untagged.includes('* 5 EXISTS'), r.untagged.join('\n'));
    // a's own change is not echoed to a again
    const ra = await a.ok('NOOP');
    assert.deepEqual(ra.untagged, ['* 5 EXISTS']);
  });

  await t.test('expunges are held back during FETCH/STORE/SEARCH by sequence number', async () => {
    await a.ok('STORE 1 +FLAGS.SILENT (\\Deleted)');
    await a.ok('EXPUNGE');
    // b still addresses message 1 by its old number: no EXPUNGE during FETCH
    const f = await b.ok('FETCH 1:* (UID)');
    assert.ok(!f.untagged.some((l) => /EXPUNGE/.test(l)), f.untagged.join('\n'));
    const s = await b.ok('SEARCH ALL');
    assert.equal(s.untagged.filter((l) => /EXPUNGE/.test(l)).length, 0);
    // but at NOOP it is reported, and numbers shift
    const n = await b.ok('NOOP');
    assert.ok(n.untagged.includes('* 1 EXPUNGE'), n.untagged.join('\n'));
    const after = await b.ok('FETCH 1 (UID)');
    assert.equal(after.untagged[0], '* 1 FETCH (UID 2)');
  });

  await t.test('UID commands may report expunges', async () => {
    await a.ok('UID STORE 5 +FLAGS.SILENT (\\Deleted)');
    await a.ok('UID EXPUNGE 5');
    const r = await b.ok('UID FETCH 2 (FLAGS)');
    assert.ok(r.untagged.includes('* 4 EXPUNGE'), r.untagged.join('\n'));
  });

  await t.test('IDLE reports a delivery and flag changes as they happen', async () => {
    b.write('I1 IDLE\r\n');
    assert.match(await b.readLine(), /^\+ /);
    const started = Date.now();
    await h.deliver(message('M6'));
    assert.equal(await b.readLine(), '* 4 EXISTS');
    assert.ok(Date.now() - started < 1000, 'within a second');
    await a.ok('STORE 1 +FLAGS (\\Seen)');
    assert.equal(await b.readLine(), '* 1 FETCH (UID 2 FLAGS (\\Flagged \\Seen))');
    await a.ok('UID STORE 3 +FLAGS.SILENT (\\Deleted)');
    await a.ok('UID EXPUNGE 3');
    assert.equal(await b.readLine(), '* 2 FETCH (UID 3 FLAGS (\\Deleted))');
    assert.equal(await b.readLine(), '* 2 EXPUNGE');
    b.write('DONE\r\n');
    const r = await b.until('I1');
    assert.equal(r.status, 'OK');
  });

  await t.test('IDLE without DONE but garbage ends with BAD', async () => {
    b.write('I2 IDLE\r\n');
    await b.readLine();
    b.write('NOTDONE\r\n');
    assert.equal((await b.until('I2')).status, 'BAD');
    await b.ok('NOOP');
  });

  await t.test('CONDSTORE: MODSEQ, CHANGEDSINCE, UNCHANGEDSINCE, SEARCH MODSEQ', async () => {
    const sel = await a.ok('SELECT INBOX (CONDSTORE)');
    const hms = Number(/HIGHESTMODSEQ (\d+)/.exec(sel.untagged.join('\n'))![1]);
    const f = await a.ok('FETCH 1 (MODSEQ)');
    assert.match(f.untagged[0]!, /^\* 1 FETCH \(MODSEQ \(\d+\)\)$/);
    const st = await a.ok('STORE 1 +FLAGS (\\Answered)');
    const newModseq = Number(/MODSEQ \((\d+)\)/.exec(st.untagged[0]!)![1]);
    assert.ok(newModseq > hms);
    const ch = await a.ok(`FETCH 1:* (FLAGS) (CHANGEDSINCE ${hms})`);
    assert.equal(ch.untagged.length, 1);
    assert.match(ch.untagged[0]!, /^\* 1 FETCH \(FLAGS \(.*\\Answered.*\) MODSEQ \(\d+\)\)$/);
    const cond = await a.command(`STORE 1:2 (UNCHANGEDSINCE ${hms}) +FLAGS (\\Draft)`);
    assert.match(cond.tagged, /OK \[MODIFIED 1\]/);
    const s = await a.ok(`SEARCH MODSEQ ${newModseq}`);
    assert.match(s.untagged[0]!, /^\* SEARCH 1 2 \(MODSEQ \d+\)$|^\* SEARCH 1 \(MODSEQ \d+\)$/);
    const status = await a.ok('STATUS INBOX (HIGHESTMODSEQ)');
    assert.match(status.untagged[0]!, /HIGHESTMODSEQ \d+/);
  });

  await t.test('QRESYNC: SELECT with changes since a modseq, VANISHED', async () => {
    const c = await h.client();
    await c.ok('ENABLE QRESYNC');
    const sel = await c.ok('SELECT INBOX');
    const uidValidity = /UIDVALIDITY (\d+)/.exec(sel.untagged.join('\n'))![1];
    const hms = Number(/HIGHESTMODSEQ (\d+)/.exec(sel.untagged.join('\n'))![1]);
    await c.ok('UNSELECT');
    await a.ok('UID STORE 2 +FLAGS (\\Deleted)');
    await a.ok('UID EXPUNGE 2');
    await a.ok('STORE 1 +FLAGS (\\Flagged \\Answered)');
    const r = await c.ok(`SELECT INBOX (QRESYNC (${uidValidity} ${hms} 1:*))`);
    assert.ok(r.untagged.includes('* VANISHED (EARLIER) 2'), r.untagged.join('\n'));
    assert.ok(r.untagged.some((l) => /^\* \d+ FETCH \(UID \d+ FLAGS \(.*\) MODSEQ \(\d+\)\)$/.test(l)), r.untagged.join('\n'));
    // expunges by others come as VANISHED now
    await a.ok('NOOP');
    const last = await a.ok('UID SEARCH ALL');
    const uid = last.untagged[0]!.split(' ').pop();
    await a.ok(`UID STORE ${uid} +FLAGS.SILENT (\\Deleted)`);
    await a.ok(`UID EXPUNGE ${uid}`);
    const n = await c.ok('NOOP');
    assert.ok(n.untagged.includes(`* VANISHED ${uid}`), n.untagged.join('\n'));
    const v = await c.ok(`UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${hms} VANISHED)`);
    assert.match(v.untagged[0]!, /^\* VANISHED \(EARLIER\) /);
    // re-SELECT reports the end of the previous selection
    const again = await c.ok('SELECT INBOX');
    assert.equal(again.untagged[0], '* OK [CLOSED] Previous mailbox closed');
  });

  await t.test('sequence numbers stay consistent under concurrent expunges', async () => {
    for (let i = 0; i < 10; i++) await h.deliver(message(`bulk${i}`));
    await a.ok('NOOP');
    await b.ok('NOOP');
    const before = await b.ok('FETCH 1:* (UID)');
    const uids = before.untagged.map((l) => Number(/UID (\d+)/.exec(l)![1]));
    // a deletes every other message while b keeps fetching by sequence number
    const odd = uids.filter((_, i) => i % 2 === 0);
    await a.ok(`UID STORE ${odd.join(',')} +FLAGS.SILENT (\\Deleted)`);
    const ex = a.ok(`UID EXPUNGE ${odd.join(',')}`);
    const during = await b.ok('FETCH 1:* (UID)');
    await ex;
    // every number b used still maps to the UID b knows for it
    for (const l of during.untagged) {
      const m = /^\* (\d+) FETCH \(UID (\d+)\)$/.exec(l);
      if (m) assert.equal(uids[Number(m[1]) - 1], Number(m[2]));
    }
    const n = await b.ok('NOOP');
    const expunged = n.untagged.filter((l) => /EXPUNGE$/.test(l)).map((l) => Number(l.split(' ')[1]));
    // replay the EXPUNGE responses on b's view: the result must be the server's truth
    const view = [...uids];
    for (const seq of expunged) view.splice(seq - 1, 1);
    const truth = await b.ok('FETCH 1:* (UID)');
    assert.deepEqual(view, truth.untagged.map((l) => Number(/UID (\d+)/.exec(l)![1])));
  });

  await t.test('a selected mailbox deleted by another session ends that session with BYE (as Dovecot)', async () => {
    await a.ok('CREATE Doomed');
    const d = await h.client();
    await d.ok('SELECT Doomed');
    await a.ok('DELETE Doomed');
    d.write('Z1 NOOP\r\n');
    const lines: string[] = [];
    try {
      for (;;) lines.push(await d.readLine());
    } catch {
      // closed by the server
    }
    assert.ok(lines.some((l) => /^\* BYE /.test(l)), lines.join('\n'));
  });

  assert.equal(sessionBugs.count, 0);
});
