// SORT and THREAD (RFC 5256), by sequence number or UID.
import type { MessageWithSummary } from '../../store/types.ts';
import { SELECTED, defineCommand } from '../command.ts';
import { ImapSyntaxError } from '../errors.ts';
import { parseCharset, parseSearchKeys, type SearchKey } from '../parser/search.ts';
import { runSearch } from '../search.ts';
import type { Session } from '../session.ts';
import { formatThreads, orderedSubject, referencesThreads, sortMessages, type SortCriterion, type SortKey } from '../thread.ts';

const CRITERIA: readonly SortCriterion[] = ['ARRIVAL', 'CC', 'DATE', 'FROM', 'SIZE', 'SUBJECT', 'TO', 'DISPLAYFROM', 'DISPLAYTO'];
const LOAD_BATCH = 500;

async function load(session: Session, uids: number[]): Promise<MessageWithSummary[]> {
  const selected = session.requireSelected();
  const out: MessageWithSummary[] = [];
  for (let i = 0; i < uids.length; i += LOAD_BATCH) out.push(...(await session.store.mail.getMessages(selected.mailbox.id, uids.slice(i, i + LOAD_BATCH))));
  return out;
}

interface SortArgs {
  keys: SortKey[];
  search: SearchKey;
}

function sortCommand(byUid: boolean) {
  return defineCommand({
    name: byUid ? 'UID SORT' : 'SORT',
    states: SELECTED,
    allowExpungeAfter: byUid,
    parse(p): SortArgs {
      p.sp();
      const keys: SortKey[] = [];
      p.open();
      for (;;) {
        let reverse = false;
        let word = p.atom().toUpperCase();
        if (word === 'REVERSE') {
          reverse = true;
          p.sp();
          word = p.atom().toUpperCase();
        }
        const criterion = CRITERIA.find((c) => c === word);
        if (!criterion) throw new ImapSyntaxError(`Unknown sort criterion ${word.slice(0, 30)}`);
        keys.push({ criterion, reverse });
        if (!p.maybeSp()) break;
      }
      p.close();
      p.sp();
      parseCharset(p);
      p.sp();
      return { keys, search: parseSearchKeys(p) };
    },
    async run(session, args: SortArgs) {
      const selected = session.requireSelected();
      const { uids } = await runSearch(session, selected, args.search);
      const sorted = sortMessages(await load(session, uids), args.keys);
      session.send(`* SORT${sorted.map((m) => ' ' + (byUid ? m.uid : selected.seqOf(m.uid))).join('')}`);
    },
  });
}

interface ThreadArgs {
  algorithm: 'REFERENCES' | 'ORDEREDSUBJECT';
  search: SearchKey;
}

function threadCommand(byUid: boolean) {
  return defineCommand({
    name: byUid ? 'UID THREAD' : 'THREAD',
    states: SELECTED,
    allowExpungeAfter: byUid,
    parse(p): ThreadArgs {
      p.sp();
      const algorithm = p.atom().toUpperCase();
      if (algorithm !== 'REFERENCES' && algorithm !== 'ORDEREDSUBJECT') throw new ImapSyntaxError(`Unknown thread algorithm ${algorithm.slice(0, 30)}`);
      p.sp();
      parseCharset(p);
      p.sp();
      return { algorithm, search: parseSearchKeys(p) };
    },
    async run(session, args: ThreadArgs) {
      const selected = session.requireSelected();
      const { uids } = await runSearch(session, selected, args.search);
      const messages = await load(session, uids);
      const idOf = (m: MessageWithSummary) => (byUid ? m.uid : selected.seqOf(m.uid));
      const roots = args.algorithm === 'ORDEREDSUBJECT' ? orderedSubject(messages, idOf) : referencesThreads(messages, idOf);
      session.send(`* THREAD ${formatThreads(roots)}`.trimEnd());
    },
  });
}

export const sort = sortCommand(false);
export const uidSort = sortCommand(true);
export const thread = threadCommand(false);
export const uidThread = threadCommand(true);
