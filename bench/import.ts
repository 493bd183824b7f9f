// Maildir import and export speed: `npm run bench:import [-- messages]` builds a Maildir++ tree of N
// messages (default 2000, ~3 KB each, in INBOX and two folders), imports it into a fresh encrypted store
// through the same code as `mailstack import postfix-dovecot --maildir`, then exports it back, and prints
// messages per second for both.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openStore } from '../src/store/index.ts';
import { exportMaildir, importPostfixDovecot } from '../src/accounts/index.ts';
import { IMPORT_PIPELINE_DEPTH } from '../src/accounts/maildir.ts';

const count = Number(process.argv[2] ?? 2000);
const work = await mkdtemp(join(tmpdir(), 'mailstack-bench-import-'));
try {
  const maildir = join(work, 'vmail', 'example.org', 'user', 'Maildir');
  const folders = ['', '.Archive', '.Archive.2023'];
  for (const f of folders) for (const sub of ['cur', 'new', 'tmp']) await mkdir(join(maildir, f, sub), { recursive: true });
  const filler = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt.\n'.repeat(30);
  for (let i = 0; i < count; i++) {
    const folder = folders[i % folders.length]!;
    const text = `From: sender${i}@remote.test\nTo: user@example.org\nSubject: message ${i}\nMessage-ID: <${i}@remote.test>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\n${filler}`;
    await writeFile(join(maildir, folder, 'cur', `${1700000000 + i}.M${i}P1.bench,S=${text.length}:2,${i % 2 ? 'S' : ''}`), text);
  }
  const sources = { vmailbox: { name: 'vmailbox', text: 'user@example.org OK\n' }, users: { name: 'users', text: 'user@example.org:{BLF-CRYPT}$2y$05$xAD8.lN92nWc8WRmemxC1O3KCjL/G4mfmB41.SKVKEYMxCzJoS8IC\n' } };
  // Depth 1 stores one message per commit (one fsync each); the default keeps 32 in flight so the
  // store's group commit shares fsyncs.
  for (const depth of [1, IMPORT_PIPELINE_DEPTH]) {
    const store = await openStore({ dir: join(work, `store-${depth}`), key: randomBytes(32) });
    try {
      let t = performance.now();
      const report = await importPostfixDovecot(store, sources, { maildirRoot: join(work, 'vmail'), maxMessageBytes: 1 << 20, pipelineDepth: depth });
      const importMs = performance.now() - t;
      if (report.counts.messages !== count) throw new Error(`imported ${report.counts.messages} of ${count}`);
      console.log(`maildir import, ${String(depth).padStart(2)} in flight: ${count} messages in ${(importMs / 1000).toFixed(1)} s = ${Math.round((count / importMs) * 1000)} msg/s (each durable before the next run could skip it)`);
      if (depth !== IMPORT_PIPELINE_DEPTH) continue;
      const user = (await store.accounts.getUser('user@example.org'))!;
      t = performance.now();
      const exported = await exportMaildir(store, user, join(work, 'export', 'Maildir'));
      const exportMs = performance.now() - t;
      console.log(`maildir export: ${exported.messages} messages in ${(exportMs / 1000).toFixed(1)} s = ${Math.round((exported.messages / exportMs) * 1000)} msg/s`);
    } finally {
      await store.close();
    }
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
