// `npm run bench [-- NAME...]`: runs the benchmarks one after another (all when no name is given), each as
// `npm run bench:NAME`, so their figures come out in one session. bench:smtp needs MAILSTACK_PEERS_DIR (the
// directory with setup-postfix-dovecot.sh) and is skipped without it.
import { spawnSync } from 'node:child_process';

const ALL = ['store', 'access', 'queue', 'smtp', 'imap', 'import'] as const;
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = wanted.length ? wanted : [...ALL];
let failed = 0;
for (const name of names) {
  if (!(ALL as readonly string[]).includes(name)) {
    console.error(`unknown benchmark "${name}": choose from ${ALL.join(', ')}`);
    process.exit(64);
  }
  if (name === 'smtp' && !process.env['MAILSTACK_PEERS_DIR']) {
    console.log('\n== bench:smtp skipped: set MAILSTACK_PEERS_DIR to the directory holding setup-postfix-dovecot.sh');
    continue;
  }
  console.log(`\n== npm run bench:${name}`);
  const r = spawnSync('npm', ['run', '--silent', `bench:${name}`], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
