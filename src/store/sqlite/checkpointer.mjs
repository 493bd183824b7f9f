// The store's checkpointer thread: copies committed pages from the WAL into the database file (PRAGMA
// wal_checkpoint(PASSIVE)) when the main thread asks, so that this copy and its fsync do not happen inside
// the writer's commits. PASSIVE never blocks the writer or readers; what it cannot copy yet (pages a reader
// still needs) is copied next time.
//
// Plain JavaScript on purpose: it needs no TypeScript loader, so the thread starts in milliseconds. It only
// runs fixed pragmas. Messages in: { type: 'checkpoint' } | { type: 'close' }. Out: { type: 'ready' } |
// { type: 'done', frames, error? } | { type: 'open-failed', message }.
import Database from 'better-sqlite3-multiple-ciphers';
import { parentPort, workerData } from 'node:worker_threads';

const { path, keyHex } = workerData;
const port = parentPort;
let db;
try {
  db = new Database(path, { fileMustExist: true });
  db.pragma(`cipher = '${workerData.cipher}'`);
  db.pragma(`algorithm = '${workerData.algorithm}'`);
  db.pragma(`key = "x'${keyHex}'"`);
  db.pragma('busy_timeout = 10000');
  db.prepare('SELECT count(*) FROM sqlite_master').get();
  db.pragma('synchronous = FULL');
  port.postMessage({ type: 'ready' });
} catch (error) {
  port.postMessage({ type: 'open-failed', message: String(error && error.message) });
  process.exit(0);
}

port.on('message', (message) => {
  if (message.type === 'close') {
    db.close();
    port.close();
    return;
  }
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)');
    port.postMessage({ type: 'done', frames: row ? row.checkpointed : 0 });
  } catch (error) {
    port.postMessage({ type: 'done', frames: 0, error: String(error && error.message) });
  }
});
