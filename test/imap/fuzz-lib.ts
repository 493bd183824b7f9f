// Fuzzing the IMAP command parser: random and mutated command lines through the framer, the tokenizer and
// every command's grammar. The only exceptions allowed are the parser's own (ImapSyntaxError -> BAD and
// ImapNo for refusals decided at parse time, e.g. BADCHARSET). Used by parser.fuzz.test.ts (a few seconds)
// and scripts/fuzz-imap.ts (as long as you like).
import { COMMANDS } from '../../src/imap/commands/index.ts';
import { ImapNo, ImapSyntaxError } from '../../src/imap/errors.ts';
import { Framer } from '../../src/imap/parser/frame.ts';
import { CommandParser } from '../../src/imap/parser/tokens.ts';
import { MAX_LINE_BYTES } from '../../src/imap/limits.ts';

export const SEEDS = [
  'a LOGIN alice@example.org "pass word"',
  'a AUTHENTICATE PLAIN AGFsaWNlAHB3',
  'a SELECT INBOX (QRESYNC (123 456 1:10,20:* (1,5 2,9)))',
  'a EXAMINE "Caf&AOk-" (CONDSTORE)',
  'a FETCH 1:*,5,$ (FLAGS UID BODY.PEEK[1.2.HEADER.FIELDS (From "To")]<0.100> BINARY[1]<5.5> BINARY.SIZE[2] MODSEQ) (CHANGEDSINCE 5 VANISHED)',
  'a UID FETCH 1:* (BODY[] BODY[TEXT] BODY[3.MIME] RFC822 RFC822.HEADER ENVELOPE BODYSTRUCTURE INTERNALDATE RFC822.SIZE)',
  'a FETCH 1 FULL',
  'a STORE 1:5 (UNCHANGEDSINCE 9) +FLAGS.SILENT (\\Seen $Junk)',
  'a UID STORE 2 -FLAGS \\Deleted',
  'a SEARCH RETURN (MIN MAX COUNT ALL SAVE) CHARSET UTF-8 OR (FROM x SUBJECT "y z") NOT BODY {3+}\r\nabc HEADER X-Foo bar SINCE 1-Feb-1994 SENTBEFORE "7-Jul-2020" LARGER 10 UID 1:* MODSEQ "/flags/\\\\seen" all 5',
  'a UID SEARCH KEYWORD $x UNKEYWORD y NEW OLD RECENT ANSWERED UNDRAFT 1,2:4',
  'a SORT (REVERSE DATE SUBJECT) UTF-8 ALL',
  'a THREAD REFERENCES US-ASCII (SUBJECT hello)',
  'a LIST (SUBSCRIBED RECURSIVEMATCH) "" ("*" "%/x") RETURN (CHILDREN STATUS (MESSAGES UIDNEXT SIZE))',
  'a LSUB "" *',
  'a STATUS INBOX (MESSAGES UNSEEN HIGHESTMODSEQ APPENDLIMIT)',
  'a APPEND INBOX (\\Seen) " 7-Feb-1994 21:52:25 -0800" {11}\r\nSubject: x\r\n',
  'a APPEND INBOX UTF8 (~{3+}\r\nabc)',
  'a CREATE Foo/Bar (USE (\\Archive))',
  'a RENAME a b',
  'a ID ("name" "x" "version" NIL)',
  'a ENABLE QRESYNC UTF8=ACCEPT',
  'a COPY 1:3 Trash',
  'a UID MOVE 1:* "Junk"',
  'a UID EXPUNGE 1:5',
  'a GETQUOTAROOT INBOX',
  'a SETQUOTA "" (STORAGE 100)',
  'a COMPRESS DEFLATE',
  'a IDLE',
  'DONE',
];

const TOKENS = ['(', ')', '[', ']', '{', '}', '{5}', '{0+}', '{99999999999}', '"', '\\', ' ', '*', '$', ':', ',', '.', '<', '>', '~{2}', '\r\n', '\n', '\0', 'NIL', 'UID', 'BODY[', 'HEADER.FIELDS', '1:*', '4294967296', '-1', '\u00e9', '\uffff', '&', '&-', '%'];

/** A small deterministic PRNG (mulberry32) so failures can be replayed from the seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function mutate(random: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  let s = random() < 0.9 ? pick(SEEDS) : Array.from({ length: Math.floor(random() * 20) }, () => pick(TOKENS)).join('');
  const n = 1 + Math.floor(random() * 6);
  for (let i = 0; i < n; i++) {
    const pos = Math.floor(random() * (s.length + 1));
    switch (Math.floor(random() * 6)) {
      case 0:
        s = s.slice(0, pos) + s.slice(pos + 1 + Math.floor(random() * 5));
        break;
      case 1:
        s = s.slice(0, pos) + pick(TOKENS) + s.slice(pos);
        break;
      case 2:
        s = s.slice(0, pos) + String.fromCharCode(Math.floor(random() * 256)) + s.slice(pos + 1);
        break;
      case 3:
        s = s.slice(0, pos) + pick(SEEDS).slice(Math.floor(random() * 20)) ;
        break;
      case 4:
        s = s.slice(0, pos) + '('.repeat(Math.floor(random() * 60)) + s.slice(pos);
        break;
      default:
        s = s + ' ' + pick(TOKENS);
    }
  }
  return s + '\r\n';
}

export interface FuzzStats {
  inputs: number;
  frames: number;
  syntaxErrors: number;
  parsed: number;
}

/** Parses one frame as the session would; throws anything that is not a parser error. */
function parseFrame(lines: string[], literals: Buffer[], stats: FuzzStats): void {
  const p = new CommandParser({ lines, literals });
  try {
    p.tag();
    p.sp();
    let name = p.atom().toUpperCase();
    if (name === 'UID') {
      p.sp();
      name = 'UID ' + p.atom().toUpperCase();
    }
    const command = COMMANDS.get(name);
    if (!command) return;
    command.parse(p, null as never);
    stats.parsed++;
  } catch (err) {
    if (err instanceof ImapSyntaxError || err instanceof ImapNo) {
      stats.syntaxErrors++;
      return;
    }
    throw err;
  }
}

/** Runs for `ms` milliseconds from `seed`; throws on the first unexpected exception. */
export function fuzz(ms: number, seed: number): FuzzStats {
  const random = rng(seed);
  const stats: FuzzStats = { inputs: 0, frames: 0, syntaxErrors: 0, parsed: 0 };
  const deadline = Date.now() + ms;
  let framer = new Framer(() => 4096);
  while (Date.now() < deadline) {
    const input = Buffer.from(mutate(random), random() < 0.5 ? 'utf8' : 'latin1');
    stats.inputs++;
    // feed in random chunks, as a network would
    let pos = 0;
    while (pos < input.length) {
      const len = 1 + Math.floor(random() * 64);
      let events;
      try {
        events = framer.push(input.subarray(pos, pos + len));
      } catch (err) {
        throw new Error(`framer threw on ${JSON.stringify(input.toString('latin1'))}: ${String(err)}`);
      }
      pos += len;
      for (const ev of events) {
        if (ev.kind !== 'frame') continue;
        stats.frames++;
        try {
          parseFrame(ev.frame.lines, ev.frame.literals, stats);
        } catch (err) {
          throw new Error(`parser threw ${String(err)} on ${JSON.stringify(ev.frame)}`);
        }
      }
      if (framer.pendingBytes > MAX_LINE_BYTES + 4096 * 32) throw new Error(`framer holds ${framer.pendingBytes} bytes`);
    }
    // A fresh framer now and then, so one stuck literal does not swallow the rest of the run.
    if (random() < 0.05) framer = new Framer(() => 4096);
  }
  return stats;
}
