// Mutated commands against a live, logged-in session with a selected mailbox: whatever parses must be
// handled without an internal error (sessionBugs stays 0), and the session must still answer afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, message } from './harness.ts';
import { mutate, rng } from './fuzz-lib.ts';
import { sessionBugs } from '../../src/imap/index.ts';

test('live session survives mutated commands', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  for (let i = 1; i <= 5; i++) await h.deliver(message(`Fuzz ${i}`));
  const seed = Number(process.env['FUZZ_SEED'] ?? Date.now() % 1_000_000);
  const random = rng(seed);
  let c = await h.client();
  await c.ok('SELECT INBOX');
  let sent = 0;
  const deadline = Date.now() + 4000;
  while (Date.now() < deadline) {
    let line = mutate(random);
    // keep it one command with a known tag, without literals (the framer has its own fuzz test) and without
    // commands that change the connection (STARTTLS/COMPRESS/IDLE/LOGOUT wait for the client)
    line = line.replace(/[\r\n]+/g, ' ').replace(/\{\d*[+-]?\}/g, '');
    const rest = line.replace(/^\S*\s*/, '');
    if (/^(UID\s+)?(STARTTLS|COMPRESS|IDLE|LOGOUT|AUTHENTICATE|DONE)\b/i.test(rest)) continue;
    const tag = `F${++sent}`;
    c.write(`${tag} ${rest}\r\n`);
    let closed = false;
    try {
      await c.until(tag);
    } catch {
      closed = true;
    }
    if (closed) {
      // a BYE is a legitimate end (e.g. the selected mailbox was deleted); start a fresh session
      c = await h.client();
      await c.ok('SELECT INBOX');
    }
    assert.equal(sessionBugs.count, 0, `internal error after ${JSON.stringify(rest)} (seed ${seed})`);
  }
  assert.ok(sent > 100, `only ${sent} commands`);
  await c.ok('NOOP');
});
