// Longer fuzz run of the IMAP command parser: node --import tsx scripts/fuzz-imap.ts [seconds] [seed]
import { fuzz } from '../test/imap/fuzz-lib.ts';

const seconds = Number(process.argv[2] ?? 60);
const seed = Number(process.argv[3] ?? Date.now() % 1_000_000);
console.log(`fuzzing the IMAP parser for ${seconds} s, seed ${seed}`);
const stats = fuzz(seconds * 1000, seed);
console.log(JSON.stringify(stats));
