// SEARCH and UID SEARCH (RFC 9051 6.4.4) with ESEARCH (RFC 4731), SEARCHRES (RFC 5182) and CONDSTORE
// MODSEQ (RFC 7162 3.1.5).
import { SELECTED, defineCommand } from '../command.ts';
import { formatSet } from '../parser/sequence.ts';
import { parseSearch, usesModseq, type SearchArgs } from '../parser/search.ts';
import { runSearch } from '../search.ts';
import type { Session } from '../session.ts';

function searchCommand(byUid: boolean) {
  return defineCommand({
    name: byUid ? 'UID SEARCH' : 'SEARCH',
    states: SELECTED,
    allowExpungeAfter: byUid,
    parse(p): SearchArgs {
      p.sp();
      return parseSearch(p);
    },
    run: (session, args: SearchArgs, tag) => runSearchCommand(session, args, byUid, tag),
  });
}

async function runSearchCommand(session: Session, args: SearchArgs, byUid: boolean, tag: string) {
  const selected = session.requireSelected();
  const modseq = usesModseq(args.key);
  if (modseq) session.enabled.add('CONDSTORE');
  const { uids, metas } = await runSearch(session, selected, args.key);
  const numbers = byUid ? uids : uids.map((u) => selected.seqOf(u));
  const highest = modseq && uids.length > 0 ? uids.reduce((max, u) => Math.max(max, metas.get(u)?.modseq ?? 0), 0) : null;
  // RFC 9051 6.4.4: an IMAP4rev2 client always gets ESEARCH (SEARCH without RETURN means RETURN (ALL)).
  if (args.returnOptions === null && session.enabled.has('IMAP4REV2')) args = { ...args, returnOptions: [] };
  if (args.returnOptions === null) {
    session.send(`* SEARCH${numbers.map((n) => ' ' + n).join('')}${highest !== null ? ` (MODSEQ ${highest})` : ''}`);
    return;
  }
  const opts = args.returnOptions.length === 0 ? ['ALL'] : args.returnOptions;
  if (opts.includes('SAVE')) {
    // RFC 5182 2.4: with only MIN and/or MAX besides SAVE, only those are saved.
    const onlyMinMax = !opts.includes('ALL') && !opts.includes('COUNT') && (opts.includes('MIN') || opts.includes('MAX'));
    if (onlyMinMax && uids.length > 0) {
      const saved = new Set<number>();
      if (opts.includes('MIN')) saved.add(uids[0] as number);
      if (opts.includes('MAX')) saved.add(uids[uids.length - 1] as number);
      session.savedSearch = [...saved];
    } else {
      session.savedSearch = uids;
    }
    // RFC 5182 2.1: SAVE alone produces no ESEARCH response.
    if (opts.length === 1) return;
  }
  const parts = [`* ESEARCH (TAG "${tag.replace(/[\\"]/g, '\\$&')}")`];
  if (byUid) parts.push('UID');
  if (numbers.length > 0) {
    if (opts.includes('MIN')) parts.push(`MIN ${numbers[0]}`);
    if (opts.includes('MAX')) parts.push(`MAX ${numbers[numbers.length - 1]}`);
    if (opts.includes('ALL')) parts.push(`ALL ${formatSet(numbers)}`);
  }
  if (opts.includes('COUNT')) parts.push(`COUNT ${numbers.length}`);
  if (highest !== null) parts.push(`MODSEQ ${highest}`);
  session.send(parts.join(' '));
}

export const search = searchCommand(false);
export const uidSearch = searchCommand(true);
