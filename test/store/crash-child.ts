// Child process of crash.test.ts: opens the store, runs concurrent writers that deliver in a loop and
// prints "ACK <id>" only after a delivery's promise resolved. The parent kills it with SIGKILL.
// Usage: node --import tsx crash-child.ts DIR KEYHEX RUN WRITERS
import { openStore } from '../../src/store/index.ts';
import { CRASH_USER, crashMessage } from './crash-message.ts';

const [dir, keyHex, run, writersArg] = process.argv.slice(2);
if (!dir || !keyHex || !run) throw new Error('usage: crash-child.ts DIR KEYHEX RUN [WRITERS]');
const writers = Number(writersArg ?? 8);

const store = await openStore({ dir, key: Buffer.from(keyHex, 'hex') });
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

await Promise.all(Array.from({ length: writers }, (_, i) => writer(i)));
