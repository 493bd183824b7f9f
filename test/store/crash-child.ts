// Child process of crash.test.ts: opens the store, runs concurrent writers that deliver in a loop and
// prints "ACK <id>" only after a delivery's promise resolved. The parent kills it with SIGKILL.
// With the mode "compact", a janitor runs beside them, again and again: it expunges the stored messages that
// expungeable() picks ("EXPUNGING <id>" before, "EXPUNGED <id>" once done) and compacts every body file with
// dead bytes ("COMPACTING" before, "COMPACTED <files>" after). With the mode "merge", the store is opened as
// serve opens it (alone on the data directory), and a janitor compacts again and again without expunging:
// the small body files earlier children left are merged into this one's ("MERGING" before, "MERGED <files>"
// after).
// Usage: node --import tsx crash-child.ts DIR KEYHEX RUN WRITERS [compact|merge]
import { openStore } from '../../src/store/index.ts';
import { CRASH_USER, crashId, crashMessage, expungeable } from './crash-message.ts';

const [dir, keyHex, run, writersArg, mode] = process.argv.slice(2);
if (!dir || !keyHex || !run) throw new Error('usage: crash-child.ts DIR KEYHEX RUN [WRITERS] [compact|merge]');
const writers = Number(writersArg ?? 8);

const store = await openStore({ dir, key: Buffer.from(keyHex, 'hex'), compactEveryMs: 0, ...(mode === 'merge' ? { exclusive: true } : {}) });
let user = await store.accounts.getUser(CRASH_USER);
if (!user) {
  if (!(await store.accounts.hasDomain('example.test'))) await store.accounts.addDomain('example.test');
  user = await store.accounts.addUser({ address: CRASH_USER, passwordHash: 'x' });
}
const userId = user.id;
process.stdout.write('READY\n');

async function writer(index: number): Promise<never> {
  for (let n = 0; ; n++) {
    const id = `r${run}w${index}n${n}`;
    await store.mail.deliver({ raw: crashMessage(id), targets: [{ userId }] });
    process.stdout.write(`ACK ${id}\n`);
  }
}

async function janitor(): Promise<never> {
  const inbox = (await store.mail.getMailbox(userId, 'INBOX'))!.id;
  for (;;) {
    const metas = await store.mail.listMessages(inbox);
    const doomed: { uid: number; id: string }[] = [];
    for (const message of await store.mail.getMessages(inbox, metas.map((m) => m.uid))) {
      const id = crashId(message.summary.envelope.messageId);
      if (id && expungeable(id)) doomed.push({ uid: message.uid, id });
    }
    if (doomed.length > 0) {
      for (const { id } of doomed) process.stdout.write(`EXPUNGING ${id}\n`);
      await store.mail.expunge(inbox, doomed.map((d) => d.uid));
      for (const { id } of doomed) process.stdout.write(`EXPUNGED ${id}\n`);
    }
    process.stdout.write('COMPACTING\n');
    const report = await store.compact({ minDeadRatio: 0 });
    process.stdout.write(`COMPACTED ${report.files}\n`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function merger(): Promise<never> {
  for (;;) {
    process.stdout.write('MERGING\n');
    const report = await store.compact();
    process.stdout.write(`MERGED ${report.filesMerged}\n`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const upkeep = mode === 'compact' ? [janitor()] : mode === 'merge' ? [merger()] : [];
await Promise.all([...Array.from({ length: writers }, (_, i) => writer(i)), ...upkeep]);
