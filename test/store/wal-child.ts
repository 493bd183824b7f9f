// Child process of wal-damage.test.ts: opens the store, delivers one message at a time (each its own
// transaction, so the WAL holds several commits), prints "DONE" and waits to be killed with SIGKILL, which
// leaves the WAL and its index (store.db-shm) as a crash would.
// Usage: node --import tsx wal-child.ts DIR KEYHEX COUNT
import { openStore } from '../../src/store/index.ts';
import { walTestMessage } from './wal-message.ts';

const [dir, keyHex, countArg] = process.argv.slice(2);
if (!dir || !keyHex || !countArg) throw new Error('usage: wal-child.ts DIR KEYHEX COUNT');
const store = await openStore({ dir, key: Buffer.from(keyHex, 'hex'), compactEveryMs: 0 });
await store.accounts.addDomain('example.test');
const user = await store.accounts.addUser({ address: 'wal@example.test', passwordHash: 'x' });
for (let n = 0; n < Number(countArg); n++) await store.mail.deliver({ raw: walTestMessage(n), targets: [{ userId: user.id }] });
process.stdout.write('DONE\n');
setInterval(() => {}, 60_000);
