// Whether the file system a bench writes to slows down creating files after many were deleted, which skews a
// comparison with a Maildir (the reference of bench:store, Dovecot in bench:imap and bench:smtp) and not the
// store, which creates few files.
//
// On ext4 without a journal, the inode allocator skips every inode freed in the last minute (six while its inode
// table block is dirty), reading each one's deletion time from the inode table: recently_deleted() in
// fs/ext4/ialloc.c, checked only when there is no journal. Right after thousands of deletions (a test run, a
// bench cleaning up), each new file costs several times the CPU: bench:store's reference ran 3-4x slower
// (BENCHMARKS.md, "the reference measured fairly").
import { readFileSync, realpathSync } from 'node:fs';
import { basename } from 'node:path';

/** The mount point holding `path` when it is ext4 without a journal, else null (also when it cannot tell). */
function unjournaledExt4(path: string): string | null {
  try {
    const real = realpathSync(path);
    let best: { source: string; mountPoint: string; type: string } | null = null;
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [source, mountPoint, type] = line.split(' ');
      if (!source || !mountPoint || !type) continue;
      const contains = mountPoint === '/' || real === mountPoint || real.startsWith(mountPoint + '/');
      if (contains && (!best || mountPoint.length > best.mountPoint.length)) best = { source, mountPoint, type };
    }
    if (best?.type !== 'ext4') return null;
    const journal = readFileSync(`/sys/fs/ext4/${basename(realpathSync(best.source))}/journal_task`, 'utf8').trim();
    return journal === '<none>' ? best.mountPoint : null;
  } catch {
    return null;
  }
}

/** A line for a bench's output when `path` is on such a file system; `maildir` names what pays for it. */
export function unjournaledExt4Note(path: string, maildir: string): string | null {
  const mountPoint = unjournaledExt4(path);
  if (!mountPoint) return null;
  return (
    `note: ${path} is on ext4 without a journal (${mountPoint}): there, creating files within minutes of deleting many ` +
    `is several times slower, so ${maildir} reads low if \`npm test\` or another bench ran in the last few minutes`
  );
}
