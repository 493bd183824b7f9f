// The store's checkpointer thread: copies committed pages from the WAL into the database file (PRAGMA
// wal_checkpoint(PASSIVE)) when the main thread asks, so that this copy and its fsync do not happen inside
// the writer's commits. PASSIVE never blocks the writer or readers; what it cannot copy yet (pages a reader
// still needs) is copied next time.
//
// It also runs the store's verify(): reading every page takes long on a big store and must not block the
// main event loop.
//
// Plain JavaScript on purpose: it needs no TypeScript loader, so the thread starts in milliseconds. It only
// runs fixed SQL. Messages in: { type: 'checkpoint' } | { type: 'verify', id } | { type: 'close' }.
// Out: { type: 'ready' } | { type: 'done', frames, error? } | { type: 'verified', id, problems } |
// { type: 'open-failed', message }.
import Database from 'better-sqlite3-multiple-ciphers';
import { parentPort, workerData } from 'node:worker_threads';

const { path, keyHex } = workerData;
const port = parentPort;

function connect() {
  const connection = new Database(path, { fileMustExist: true });
  connection.pragma(`cipher = '${workerData.cipher}'`);
  connection.pragma(`algorithm = '${workerData.algorithm}'`);
  connection.pragma(`key = "x'${keyHex}'"`);
  connection.pragma('busy_timeout = 10000');
  connection.pragma('temp_store = MEMORY');
  connection.prepare('SELECT count(*) FROM sqlite_master').get();
  return connection;
}

/** Reads every page through a fresh connection (no page from a cache): each page's tag is checked. */
function verify() {
  const problems = [];
  let connection = null;
  try {
    connection = connect();
    // integrity_check walks every b-tree page and every overflow page (the message bodies).
    for (const row of connection.pragma('integrity_check')) {
      if (row.integrity_check !== 'ok') problems.push(...String(row.integrity_check).split('\n'));
    }
    const badRefs = connection.prepare('SELECT count(*) AS n FROM bodies b WHERE refs != (SELECT count(*) FROM messages m WHERE m.body_id = b.id)').get();
    if (badRefs.n > 0) problems.push(`${badRefs.n} message bodies have a wrong reference count`);
    const badSizes = connection.prepare('SELECT count(*) AS n FROM bodies WHERE segment IS NULL AND size != length(raw)').get();
    if (badSizes.n > 0) problems.push(`${badSizes.n} message bodies differ from their recorded size`);
  } catch (error) {
    const code = error && error.code ? ` (${error.code})` : '';
    problems.push(`stored data failed authentication or is damaged${code}: ${String(error && error.message)}`);
  } finally {
    try {
      connection?.close();
    } catch {
      // reported above
    }
  }
  return problems;
}

let db;
try {
  db = connect();
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
  if (message.type === 'verify') {
    port.postMessage({ type: 'verified', id: message.id, problems: verify() });
    return;
  }
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)');
    port.postMessage({ type: 'done', frames: row ? row.checkpointed : 0 });
  } catch (error) {
    port.postMessage({ type: 'done', frames: 0, error: String(error && error.message) });
  }
});
