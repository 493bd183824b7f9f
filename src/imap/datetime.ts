// IMAP dates: date-time of INTERNALDATE and APPEND (RFC 9051 9) and the date of SEARCH keys.
import { ImapSyntaxError } from './errors.ts';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function month(name: string): number {
  const i = MONTHS.findIndex((m) => m.toLowerCase() === name.toLowerCase());
  if (i < 0) throw new ImapSyntaxError(`Unknown month ${name.slice(0, 10)}`);
  return i;
}

/** "dd-Mon-yyyy hh:mm:ss +zzzz" -> ms since epoch. */
export function parseDateTime(s: string): number {
  const m = /^([ \d]?\d)-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(s);
  if (!m) throw new ImapSyntaxError('Expected a date-time like "17-Jul-1996 02:44:25 -0700"');
  const [, d, mon, y, hh, mm, ss, sign, zh, zm] = m as unknown as string[];
  const utc = Date.UTC(Number(y), month(mon as string), Number((d as string).trim()), Number(hh), Number(mm), Number(ss));
  const offset = (Number(zh) * 60 + Number(zm)) * 60_000 * (sign === '-' ? -1 : 1);
  const t = utc - offset;
  if (!Number.isFinite(t) || Number(hh) > 23 || Number(mm) > 59 || Number(ss) > 60) throw new ImapSyntaxError('Invalid date-time');
  return t;
}

/** INTERNALDATE as sent: in UTC, "dd-Mon-yyyy hh:mm:ss +0000". */
export function formatDateTime(ms: number): string {
  const d = new Date(ms);
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${p2(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000`;
}

/** date = date-text / DQUOTE date-text DQUOTE; date-text = date-day "-" date-month "-" date-year.
 * Returns the day as a UTC day number (days since epoch). */
export function parseSearchDate(s: string): number {
  const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(s);
  if (!m) throw new ImapSyntaxError('Expected a date like 1-Feb-1994');
  return Math.floor(Date.UTC(Number(m[3]), month(m[2] as string), Number(m[1])) / 86_400_000);
}

/** Day number of a moment, in UTC (RFC 9051 6.4.4: dates disregard time and timezone). */
export function dayOf(ms: number): number {
  return Math.floor(ms / 86_400_000);
}
