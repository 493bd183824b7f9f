// authcheck: SPF (RFC 7208), DKIM (RFC 6376), DMARC (RFC 7489) and ARC (RFC 8617) verdicts for an inbound
// message, and the Authentication-Results header field (RFC 8601) that records them.
// Owns: calling mailauth with the DNS layer's resolver, the DMARC policy decision (accept / quarantine /
// reject), and the removal of forged Authentication-Results fields. Never: touches a socket or the store.
//
// Implementation notes:
// - Expected outcomes (temperror, permerror, fail) are values, not throws: a DNS failure never loses a
//   message; it yields temperror and the message is accepted (no policy is applied on temperror).
// - The checks run under a deadline; past it the verdict says temperror for all of them.
import { authenticate, dmarc as checkDmarc, spf as checkSpf } from 'mailauth';
import addressparser from 'nodemailer/lib/addressparser';
import { isIP } from 'node:net';
import type { Logger } from '../log/index.ts';
import { DerivedCache, type AnswerTracker, type Resolver } from '../dns/index.ts';
import { fieldValue, headerFields, removeHeaderFields } from '../delivery/index.ts';

export type DmarcAction = 'accept' | 'quarantine' | 'reject';

export interface InboundCheckInput {
  raw: Buffer;
  /** Client address (SPF). */
  ip: string;
  /** HELO/EHLO name (SPF HELO identity). */
  helo: string;
  /** MAIL FROM; "" for the null sender (SPF then checks the HELO identity, RFC 7208 2.4). */
  sender: string;
  /** Our host name: the authserv-id of the Authentication-Results field. */
  hostname: string;
  /** mailauth-style resolver: (name, rrtype) => node:dns/promises shapes. */
  resolver: (name: string, rrtype: string) => Promise<unknown>;
  timeoutMs: number;
  /** Honour p=reject (otherwise failing mail is quarantined). */
  honourReject: boolean;
  /** Honour p=quarantine (otherwise failing mail is delivered to the inbox). */
  honourQuarantine: boolean;
  log?: Logger;
  /** Reuses SPF and DMARC results while the DNS answers they came from are cached (createAuthCheckCache). */
  cache?: AuthCheckCache;
}

type SpfResult = Awaited<ReturnType<typeof checkSpf>>;
type DmarcResult = Awaited<ReturnType<typeof checkDmarc>>;

/** SPF and DMARC results of the unsigned-mail path, by their inputs. One per listener. */
export interface AuthCheckCache {
  spf: DerivedCache<SpfResult>;
  dmarc: DerivedCache<DmarcResult>;
}

/** The cache for checkInbound over `resolver` (which must be the one the checks' `resolver` comes from). */
export function createAuthCheckCache(resolver: Pick<Resolver, 'track'>): AuthCheckCache {
  return { spf: new DerivedCache(resolver), dmarc: new DerivedCache(resolver) };
}

/** RFC 7208 7.3: the "t" macro expands to the current time, so an SPF result whose records use it depends
 * on the clock as well as on the answers (the letter may be upper case: the same value, URL-escaped). */
const TIME_MACRO = /%\{t/i;

/** The tracker's lookup for an SPF evaluation: a TXT record with the time macro makes the result
 * non-reusable. */
function spfLookup(tracker: AnswerTracker): (name: string, rrtype: string) => Promise<unknown> {
  return async (name, rrtype) => {
    const records = await tracker.mailauth(name, rrtype);
    if (rrtype.toUpperCase() === 'TXT' && (records as string[][]).some((chunks) => TIME_MACRO.test(chunks.join('')))) tracker.taint();
    return records;
  };
}

export interface InboundVerdict {
  /** Header lines to prepend (Authentication-Results, Received-SPF), without the final CRLF. */
  headers: string[];
  spf: string;
  /** Best DKIM result (pass if any signature passes). */
  dkim: string;
  dmarc: string;
  arc: string;
  /** The DMARC policy that applied when DMARC failed, else null. */
  dmarcPolicy: string | null;
  action: DmarcAction;
  /** Why the action is not 'accept'. */
  reason?: string;
}

/** RFC 8601 2.2: the authserv-id is the first token of the field value, before ";" (and an optional version). */
function authservId(value: string): string {
  return (value.split(';')[0] ?? '').trim().split(/\s+/)[0]?.toLowerCase() ?? '';
}

/** RFC 8601 5: an MTA MUST remove Authentication-Results fields carrying its own authserv-id before
 * adding its own: they can only be forgeries (or stale results from a previous pass through us). */
export function removeForgedAuthResults(raw: Buffer, hostname: string): Buffer {
  const ours = hostname.toLowerCase();
  return removeHeaderFields(raw, (name, value) => name.toLowerCase() === 'authentication-results' && authservId(value) === ours);
}

/** Our Authentication-Results values in the message (for tests and the deliver command). */
export function ownAuthResults(raw: Buffer, hostname: string): string[] {
  const ours = hostname.toLowerCase();
  return headerFields(raw)
    .filter((f) => f.name.toLowerCase() === 'authentication-results')
    .map((f) => fieldValue(raw, f))
    .filter((v) => authservId(v) === ours);
}

/** Splits mailauth's header block ("A: ...\r\n folded\r\nB: ...\r\n") into one string per field. */
function splitFields(block: string): string[] {
  return block
    .replace(/\r?\n$/, '')
    .split(/\r?\n(?![ \t])/)
    .map((line) => line.replace(/\r?\n(?=[ \t])/g, '\r\n'))
    .filter((line) => line.length > 0);
}

class CheckTimeout extends Error {}

/** Header fields that make DKIM or ARC verification do something: without them the full mailauth pass
 * (which streams the whole message through its DKIM parser, ~2 ms even for 1 KB) has nothing to verify. */
const SIGNATURE_FIELDS = new Set(['dkim-signature', 'arc-seal', 'arc-message-signature', 'arc-authentication-results']);

/**
 * The same verdict mailauth's authenticate() gives for a message with no DKIM signature and no ARC set:
 * dkim=none, SPF as usual, DMARC on SPF alone. Returns null when the message is signed (full path).
 */
async function unsignedVerdict(input: InboundCheckInput): Promise<{ headers: string; spf: string; dmarc: DmarcResult } | null> {
  const fields = headerFields(input.raw);
  if (fields.some((f) => SIGNATURE_FIELDS.has(f.name.toLowerCase()))) return null;
  // As mailauth: the HELO identity defaults to the IP; an IP is written as an address literal.
  let helo = input.helo || input.ip;
  if (isIP(helo)) helo = `[${helo}]`;
  const spfInput = { ip: input.ip, helo, sender: input.sender, mta: input.hostname };
  const runSpf = (resolver: InboundCheckInput['resolver']) => checkSpf({ ...spfInput, resolver: resolver as never } as Parameters<typeof checkSpf>[0]);
  const spf = input.cache
    ? await input.cache.spf.get(JSON.stringify([spfInput.ip, helo, spfInput.sender, spfInput.mta]), (tracker) => runSpf(spfLookup(tracker)))
    : await runSpf(input.resolver);
  const rows = ['dkim=none (message not signed)', spf.info];
  // RFC 7489 6.6.1: DMARC needs exactly one RFC5322.From address.
  const headerFrom: string[] = [];
  for (const f of fields) {
    if (f.name.toLowerCase() !== 'from') continue;
    for (const a of addressparser(fieldValue(input.raw, f))) if ('address' in a && a.address) headerFrom.push(a.address);
  }
  let dmarc: DmarcResult = false;
  if (headerFrom.length === 1) {
    const from = headerFrom[0]!;
    const spfDomains = spf.status.result === 'pass' && spf.domain ? [spf.domain] : [];
    const runDmarc = (resolver: InboundCheckInput['resolver']) =>
      checkDmarc({ headerFrom: from, spfDomains, dkimDomains: [], resolver: resolver as never } as Parameters<typeof checkDmarc>[0]);
    dmarc = input.cache ? await input.cache.dmarc.get(JSON.stringify([from, spfDomains]), (tracker) => runDmarc(tracker.mailauth)) : await runDmarc(input.resolver);
    if (dmarc && dmarc.info) rows.push(dmarc.info);
  }
  const headers = [spf.header, `Authentication-Results: ${input.hostname};\r\n ${rows.join(';\r\n ')}`].filter(Boolean).join('\r\n') + '\r\n';
  return { headers, spf: spf.status.result, dmarc };
}

/** The DMARC policy decision on top of the check results. */
function decide(
  input: InboundCheckInput,
  r: { headers: string; spf: string; dkim: string; arc: string; dmarc: Awaited<ReturnType<typeof checkDmarc>> },
): InboundVerdict {
  const dmarc = r.dmarc ? r.dmarc.status.result : 'none';
  let action: DmarcAction = 'accept';
  let dmarcPolicy: string | null = null;
  let reason: string | undefined;
  if (r.dmarc && dmarc === 'fail') {
    // RFC 7489 6.6.2: the policy of the organisational domain (sp for subdomains), as mailauth chose it.
    dmarcPolicy = r.dmarc.policy ?? null;
    if (dmarcPolicy === 'reject') action = input.honourReject ? 'reject' : input.honourQuarantine ? 'quarantine' : 'accept';
    else if (dmarcPolicy === 'quarantine') action = input.honourQuarantine ? 'quarantine' : 'accept';
    if (action !== 'accept') reason = `DMARC policy of ${r.dmarc.domain} (p=${dmarcPolicy})`;
  }
  return { headers: splitFields(r.headers), spf: r.spf, dkim: r.dkim, dmarc, arc: r.arc, dmarcPolicy, action, ...(reason ? { reason } : {}) };
}

export async function checkInbound(input: InboundCheckInput): Promise<InboundVerdict> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckTimeout('authentication checks timed out')), input.timeoutMs);
  });
  try {
    const fast = await Promise.race([unsignedVerdict(input), deadline]);
    if (fast) {
      return decide(input, { headers: fast.headers, spf: fast.spf, dkim: 'none', arc: 'none', dmarc: fast.dmarc });
    }
    const result = await Promise.race([
      authenticate(input.raw, {
        ip: input.ip,
        helo: input.helo,
        sender: input.sender,
        mta: input.hostname,
        resolver: input.resolver as never,
        disableBimi: true,
        // ARC verification only means something when the message carries an ARC set (RFC 8617 5.2).
        disableArc: !headerFields(input.raw).some((f) => f.name.toLowerCase() === 'arc-seal'),
      }),
      deadline,
    ]);
    const dkimResults = result.dkim?.results ?? [];
    return decide(input, {
      headers: result.headers,
      spf: result.spf ? result.spf.status.result : 'none',
      dkim: dkimResults.some((r) => r.status.result === 'pass') ? 'pass' : (dkimResults[0]?.status.result ?? 'none'),
      arc: result.arc ? result.arc.status.result : 'none',
      dmarc: result.dmarc,
    });
  } catch (err) {
    // A bug or a timeout in the checks must not refuse mail: record temperror and deliver.
    if (!(err instanceof CheckTimeout)) input.log?.error({ err }, 'authentication checks failed');
    else input.log?.warn('authentication checks timed out');
    const header = `Authentication-Results: ${input.hostname}; spf=temperror; dkim=temperror; dmarc=temperror`;
    return { headers: [header], spf: 'temperror', dkim: 'temperror', dmarc: 'temperror', arc: 'none', dmarcPolicy: null, action: 'accept' };
  } finally {
    clearTimeout(timer);
  }
}
