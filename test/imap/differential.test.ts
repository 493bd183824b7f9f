// Differential suite: the same messages APPENDed to a private Dovecot (Debian's, started for this test) and
// answered by mailstack; ENVELOPE, BODYSTRUCTURE, BODY[sections], BINARY[parts] and SEARCH compared after
// normalising harmless differences (differential-compare.ts). Known, deliberate differences are listed in
// KNOWN_DIFFERENCES with the reason, and in docs/imap-differences.md.
//
// Two suites: Dovecot vs the mailstack IMAP server (real sockets, TLS, APPEND then FETCH/SEARCH), and Dovecot
// vs src/mime directly (summarizeMessage + the IMAP renderer + extractSection/decodeBinarySection +
// extractSearchText), which pins the MIME layer down even where the server adds its own behaviour.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { dovecotBinary, startDovecot, type DovecotInstance } from './differential-dovecot.ts';
import { RawImapClient, parseFetch, type ImapValue } from './differential-client.ts';
import { startHarness, PASSWORD, type Harness } from './harness.ts';
import { DirectSide, leafPaths, normalise, sectionsOf } from './differential-compare.ts';
import { fixtureMessages, spamAssassinSample, type CorpusMessage } from './differential-corpus.ts';

/** message name -> items whose difference is deliberate ("*" = every item), with the reason. */
export const KNOWN_DIFFERENCES: Record<string, { items: string[]; reason: string }> = {
  'odd-content-type.eml': {
    items: ['BODYSTRUCTURE'],
    reason: 'Content-Type "text" without subtype: Dovecot sends subtype "", mailstack the RFC 2045 5.2 default text/plain',
  },
  'addresses.eml': {
    items: ['ENVELOPE'],
    reason: 'empty list members ("Bcc: , ,"): Dovecot invents MISSING_MAILBOX@MISSING_DOMAIN addresses, mailstack skips them (NIL)',
  },
  'no-separator.eml': {
    items: ['HEADER.FIELDS.NOT (RECEIVED SUBJECT)'],
    reason: 'header without the blank line that ends it: Dovecot copies it raw for HEADER.FIELDS.NOT, mailstack adds the line break and blank line RFC 9051 6.4.5 says the subset includes (as Dovecot does for HEADER.FIELDS)',
  },
  '8bit-latin1-headers.eml': {
    items: ['SEARCH'],
    reason: 'raw Latin-1 bytes in a header: Dovecot passes the bytes on and cannot match them with a UTF-8 search; mailstack reads them as Latin-1, sends UTF-8 and finds them',
  },
  'deep-nesting.eml': {
    items: ['BINARY'],
    reason: 'the leaf sits 60 levels deep: the mailstack IMAP command parser refuses section numbers deeper than 32 levels (a bound on untrusted input), Dovecot answers',
  },
  'spam-2/00204.4cf15f97b8ea08bfafab7d5091b8fbe7.txt': {
    items: ['BODYSTRUCTURE'],
    reason: 'Content-Type "TEXT/PLAIN charset=US-ASCII" (no ";"): Dovecot sends type "" and subtype "", mailstack text/plain and skips the junk',
  },
  'spam-2/00083.1aead789d4b4c7022c51bc632e4f2445.txt': {
    items: ['*'],
    reason: 'lines ending CR CR CR LF: Dovecot\'s Maildir storage drops one CR per line, mailstack keeps the bytes it was given',
  },
  'not-mime.eml': {
    items: ['BINARY[1]'],
    reason: 'no MIME-Version and no Content-Type: both report 7bit in BODYSTRUCTURE, but Dovecot still base64-decodes BINARY; mailstack stays consistent with its BODYSTRUCTURE',
  },
  'deeper-than-limit.eml': {
    items: ['*'],
    reason: 'past 100 nested multiparts both stop splitting; Dovecot reports the rest as 0 bytes, mailstack with its real size and content',
  },
};

function known(name: string, item: string): boolean {
  const k = KNOWN_DIFFERENCES[name];
  // An entry "BINARY" covers every BINARY[...] item of that message.
  return !!k && (k.items.includes('*') || k.items.includes(item) || k.items.includes(item.split('[')[0]!));
}

// Messages whose structure differs by design are left out of SEARCH too.
for (const k of Object.values(KNOWN_DIFFERENCES)) if (k.items.includes('*')) k.items.push('SEARCH');

interface Difference {
  message: string;
  item: string;
  dovecot: unknown;
  mailstack: unknown;
}

/** Differences, shown from a little before the first differing character so long values stay readable. */
function report(diffs: Difference[]): string {
  const show = (a: string, from: number) => JSON.stringify(a.slice(from, from + 300));
  return diffs
    .slice(0, 10)
    .map((d) => {
      const a = JSON.stringify(d.dovecot) ?? 'undefined';
      const b = JSON.stringify(d.mailstack) ?? 'undefined';
      let i = 0;
      while (i < a.length && a[i] === b[i]) i++;
      const from = Math.max(0, i - 60);
      return `${d.message} ${d.item} (first difference at ${i})\n  dovecot:   ${show(a, from)}\n  mailstack: ${show(b, from)}`;
    })
    .join('\n');
}

function asBuffer(v: ImapValue | undefined): Buffer | null {
  if (v === undefined || v === null) return null;
  if (Buffer.isBuffer(v)) return v;
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  return null;
}

// DIFF_SAMPLE and DIFF_STEP widen the run (e.g. DIFF_SAMPLE=6100 DIFF_STEP=1 compares the whole corpus).
const SAMPLE_SIZE = Number(process.env['DIFF_SAMPLE'] ?? 150);
const SAMPLE_STEP = Number(process.env['DIFF_STEP'] ?? 40);

type SearchKey = 'BODY' | 'TEXT' | 'SUBJECT' | 'FROM';
type BinaryAnswer = { kind: 'ok'; value: Buffer | null } | { kind: 'no'; text: string } | { kind: 'decode-error' };

/** One server's answers for message number i (1-based sequence numbers = append order). */
interface Answers {
  envelopeAndStructure(seq: number): Promise<{ envelope: ImapValue; bodyStructure: ImapValue }>;
  sections(seq: number, fetch: string[]): Promise<Map<string, Buffer | null>>;
  binary(seq: number, section: string): Promise<BinaryAnswer>;
  search(key: SearchKey, needle: string): Promise<number[]>;
  close(): Promise<void>;
}

function fetchLine(untagged: Buffer[]): Map<string, ImapValue> {
  const line = untagged.find((l) => / FETCH /.test(l.toString('latin1', 0, 30)));
  return line ? parseFetch(line) : new Map();
}

/** Answers from a live IMAP server over a raw client. */
class ImapAnswers implements Answers {
  constructor(
    private client: RawImapClient,
    private readonly reconnect: () => Promise<RawImapClient>,
    /** For Dovecot: resolves true when its log shows it dropped the session over undecodable data. */
    private readonly decodeErrorLogged: (seq: number) => Promise<boolean>,
  ) {}
  async envelopeAndStructure(seq: number) {
    // Two commands: mailstack answers ENVELOPE alone from the form rendered at delivery, and with
    // BODYSTRUCTURE from the summary; both paths are compared.
    const envelope = fetchLine((await this.client.ok(`FETCH ${seq} (ENVELOPE)`)).untagged).get('ENVELOPE') ?? null;
    const got = fetchLine((await this.client.ok(`FETCH ${seq} (ENVELOPE BODYSTRUCTURE)`)).untagged);
    const both = got.get('ENVELOPE') ?? null;
    if (JSON.stringify(both) !== JSON.stringify(envelope)) throw new Error(`FETCH ${seq}: ENVELOPE alone and with BODYSTRUCTURE differ`);
    return { envelope, bodyStructure: got.get('BODYSTRUCTURE') ?? null };
  }
  async sections(seq: number, fetch: string[]) {
    const got = fetchLine((await this.client.ok(`FETCH ${seq} (${fetch.map((f) => `BODY.PEEK[${f}]`).join(' ')})`)).untagged);
    return new Map(fetch.map((f) => [f, asBuffer(got.get(`BODY[${f}]`))]));
  }
  async binary(seq: number, section: string): Promise<BinaryAnswer> {
    let r;
    try {
      r = await this.client.command(`FETCH ${seq} (BINARY.PEEK[${section}])`);
    } catch (err) {
      // Dovecot ends the session when it cannot decode a part ("Base64 data ends prematurely").
      if (!(await this.decodeErrorLogged(seq))) throw err;
      this.client = await this.reconnect();
      return { kind: 'decode-error' };
    }
    // Dovecot refuses invalid base64/quoted-printable with NO [PARSE] "Invalid data in MIME part".
    if (r.status === 'NO' && /\[PARSE\]/.test(r.text)) return { kind: 'decode-error' };
    if (r.status !== 'OK') return { kind: 'no', text: r.text };
    return { kind: 'ok', value: asBuffer(fetchLine(r.untagged).get(`BINARY[${section}]`)) };
  }
  async search(key: SearchKey, needle: string) {
    const r = await this.client.ok(`SEARCH CHARSET UTF-8 ${key} `, Buffer.from(needle, 'utf8'));
    const line = r.untagged.map((l) => l.toString('utf8')).find((l) => l.startsWith('* SEARCH')) ?? '* SEARCH';
    return line.slice(8).trim().split(/\s+/).filter(Boolean).map(Number);
  }
  async close() {
    await this.client.close();
  }
}

/** Answers computed from src/mime directly: what the IMAP server is built to send. */
class DirectAnswers implements Answers {
  constructor(readonly direct: DirectSide) {}
  async envelopeAndStructure(seq: number) {
    return { envelope: this.direct.envelope(seq - 1), bodyStructure: this.direct.bodyStructure(seq - 1) };
  }
  async sections(seq: number, fetch: string[]) {
    const specs = new Map(sectionsOf(this.direct.summaries[seq - 1]!).map((s) => [s.fetch, s.spec]));
    return new Map(fetch.map((f) => [f, this.direct.section(seq - 1, specs.get(f)!)]));
  }
  async binary(seq: number, section: string): Promise<BinaryAnswer> {
    const value = this.direct.binary(seq - 1, section.split('.').map(Number));
    return value === null ? { kind: 'no', text: '[UNKNOWN-CTE] (direct)' } : { kind: 'ok', value };
  }
  async search(key: SearchKey, needle: string) {
    return this.direct.search(key, needle);
  }
  async close() {}
}

function describeDifferential(title: string, makeMailstack: (corpus: CorpusMessage[], direct: DirectSide) => Promise<{ answers: Answers; cleanup(): Promise<void> }>): void {
  describe(title, { skip: dovecotBinary() ? false : 'dovecot is not installed (apt-get install dovecot-imapd); differential suite skipped' }, () => {
    let dovecot: DovecotInstance;
    let theirs: Answers;
    let ours: Answers;
    let cleanup: () => Promise<void> = async () => {};
    let corpus: CorpusMessage[];
    let direct: DirectSide;

    before(async () => {
      corpus = [...fixtureMessages(), ...spamAssassinSample(SAMPLE_SIZE, SAMPLE_STEP)];
      direct = new DirectSide(corpus.map((m) => m.raw));
      dovecot = await startDovecot();
      const connect = async () => {
        const c = await RawImapClient.open(dovecot.host, dovecot.port);
        await c.ok(`LOGIN ${dovecot.user} ${dovecot.password}`);
        return c;
      };
      const client = await connect();
      for (const m of corpus) await client.ok('APPEND INBOX ', m.raw);
      await client.ok('SELECT INBOX');
      theirs = new ImapAnswers(
        client,
        async () => {
          const c = await connect();
          await c.ok('SELECT INBOX');
          return c;
        },
        (seq) => dovecot.waitForLog(new RegExp(`UID=${seq}: .*failed: .*(Base64|quoted-printable)`, 'i'), 5000),
      );
      const side = await makeMailstack(corpus, direct);
      ours = side.answers;
      cleanup = side.cleanup;
    });

    after(async () => {
      await theirs?.close();
      await ours?.close();
      await cleanup();
      await dovecot?.stop();
    });

    test('the corpus holds the hand-made fixtures and a SpamAssassin sample', () => {
      assert.ok(corpus.length >= fixtureMessages().length + Math.min(SAMPLE_SIZE, 100), `only ${corpus.length} messages`);
    });

    test('ENVELOPE and BODYSTRUCTURE are the same', async () => {
      const diffs: Difference[] = [];
      for (let i = 0; i < corpus.length; i++) {
        const name = corpus[i]!.name;
        const a = await theirs.envelopeAndStructure(i + 1);
        const b = await ours.envelopeAndStructure(i + 1);
        for (const [item, x, y, lower] of [['ENVELOPE', a.envelope, b.envelope, false], ['BODYSTRUCTURE', a.bodyStructure, b.bodyStructure, true]] as const) {
          const na = normalise(x, lower);
          const nb = normalise(y, lower);
          if (!isDeepStrictEqual(na, nb) && !known(name, item)) diffs.push({ message: name, item, dovecot: na, mailstack: nb });
        }
      }
      assert.equal(diffs.length, 0, `${diffs.length} differences:\n${report(diffs)}`);
    });

    test('BODY[section] answers are byte-identical', async () => {
      const diffs: Difference[] = [];
      let compared = 0;
      for (let i = 0; i < corpus.length; i++) {
        const name = corpus[i]!.name;
        if (known(name, '*')) continue;
        const fetch = sectionsOf(direct.summaries[i]!).map((s) => s.fetch);
        const a = await theirs.sections(i + 1, fetch);
        const b = await ours.sections(i + 1, fetch);
        for (const f of fetch) {
          const x = a.get(f) ?? Buffer.alloc(0);
          const y = b.get(f) ?? Buffer.alloc(0);
          compared++;
          if (!x.equals(y) && !known(name, f)) diffs.push({ message: name, item: `BODY[${f}]`, dovecot: x.toString('latin1'), mailstack: y.toString('latin1') });
        }
      }
      assert.ok(compared > 500, `only ${compared} sections compared`);
      assert.equal(diffs.length, 0, `${diffs.length} differences:\n${report(diffs)}`);
    });

    test('BINARY[part] decodes the same bytes, and unknown encodings fail alike', async () => {
      const diffs: Difference[] = [];
      let decoded = 0;
      let unknownCte = 0;
      let dovecotDecodeErrors = 0;
      for (let i = 0; i < corpus.length; i++) {
        const name = corpus[i]!.name;
        if (known(name, '*')) continue;
        for (const path of leafPaths(direct.summaries[i]!)) {
          const section = path.join('.');
          const a = await theirs.binary(i + 1, section);
          const b = await ours.binary(i + 1, section);
          if (a.kind === 'decode-error' && b.kind === 'ok') {
            // Dovecot refuses to decode damaged base64/QP; mailstack decodes what is there (RFC 2045 6.7, 6.8).
            dovecotDecodeErrors++;
            continue;
          }
          if (a.kind === 'no' && b.kind === 'no') {
            // RFC 3516 4.3: [UNKNOWN-CTE] when the server cannot decode the part.
            if (/UNKNOWN-CTE/.test(a.text) && /UNKNOWN-CTE/.test(b.text)) unknownCte++;
            else diffs.push({ message: name, item: `BINARY[${section}]`, dovecot: a.text, mailstack: b.text });
            continue;
          }
          const x = a.kind === 'ok' ? (a.value ?? Buffer.alloc(0)) : null;
          const y = b.kind === 'ok' ? (b.value ?? Buffer.alloc(0)) : null;
          if (x && y && x.equals(y)) decoded++;
          else if (!known(name, `BINARY[${section}]`)) {
            diffs.push({ message: name, item: `BINARY[${section}]`, dovecot: x?.toString('latin1') ?? a, mailstack: y?.toString('latin1') ?? b });
          }
        }
      }
      assert.ok(decoded > 100, `only ${decoded} parts compared`);
      assert.ok(dovecotDecodeErrors <= decoded / 20, `Dovecot failed to decode ${dovecotDecodeErrors} parts`);
      assert.ok(unknownCte >= 1, 'the x-uuencode fixture part must give UNKNOWN-CTE on both sides');
      assert.equal(diffs.length, 0, `${diffs.length} differences:\n${report(diffs)}`);
    });

    test('SEARCH on decoded text finds the same messages', async () => {
      const queries: [SearchKey, string][] = [
        ['BODY', 'zebrafish'], // base64 body
        ['BODY', 'giraffe'], // unknown charset, ASCII text
        ['BODY', 'Käsebrot'], // raw UTF-8 body
        ['BODY', 'Привет'], // KOI8-R body
        ['BODY', 'Grüße aus Köln'], // base64 UTF-8 body
        ['BODY', 'with ünïcödé and a soft break'], // quoted-printable with a soft line break
        ['BODY', 'Original plain text'], // inside message/rfc822
        ['SUBJECT', 'café crème'], // adjacent encoded words
        ['SUBJECT', 'Grüße'],
        ['FROM', 'Jörg Müller'], // encoded word in From
        ['FROM', 'François'],
        ['TEXT', 'undisclosed-recipients'],
        ['BODY', 'unsubscribe'],
        ['BODY', 'money'],
        ['SUBJECT', 'linux'],
        ['TEXT', 'razor'],
        ['BODY', 'click here'],
        ['FROM', 'yahoo'],
      ];
      const diffs: Difference[] = [];
      let hits = 0;
      let htmlExplained = 0;
      const comparable = (n: number) => !known(corpus[n - 1]!.name, 'SEARCH');
      for (const [key, needle] of queries) {
        let a = (await theirs.search(key, needle)).filter(comparable);
        let b = (await ours.search(key, needle)).filter(comparable);
        // Dovecot searches HTML source (tags too), mailstack the HTML's text: drop the messages where that is
        // the whole reason for a difference.
        const onlyOne = new Set([...a.filter((n) => !b.includes(n)), ...b.filter((n) => !a.includes(n))]);
        for (const n of onlyOne) {
          if (direct.htmlExplains(n - 1, needle)) {
            htmlExplained++;
            a = a.filter((x) => x !== n);
            b = b.filter((x) => x !== n);
          }
        }
        hits += b.length;
        if (!isDeepStrictEqual(a, b)) {
          diffs.push({ message: `${key} "${needle}"`, item: 'SEARCH', dovecot: a.map((n) => corpus[n - 1]!.name), mailstack: b.map((n) => corpus[n - 1]!.name) });
        }
      }
      assert.ok(hits > 20, `only ${hits} hits: the queries do not exercise the corpus`);
      assert.ok(htmlExplained < hits / 4, `${htmlExplained} differences put down to HTML: too many to be only that`);
      assert.equal(diffs.length, 0, `${diffs.length} differences:\n${report(diffs)}`);
    });
  });
}

describeDifferential('differential: the mailstack IMAP server vs Dovecot', async (corpus) => {
  const h: Harness = await startHarness({ maxMessageBytes: 16 * 1024 * 1024 });
  const client = await RawImapClient.openTls('127.0.0.1', h.tlsPort, Buffer.from(h.runtime.tls.cert));
  // The second test user has no quota (the first has 10 MiB, too small for the whole corpus).
  await client.ok(`LOGIN ${h.other.address} {${Buffer.byteLength(PASSWORD)}+}\r\n${PASSWORD}`);
  for (const m of corpus) await client.ok('APPEND INBOX ', m.raw);
  await client.ok('SELECT INBOX');
  const answers = new ImapAnswers(client, async () => client, async () => false);
  return { answers, cleanup: () => h.close() };
});

describeDifferential('differential: src/mime (summarize, sections, search text) vs Dovecot', async (_corpus, direct) => ({
  answers: new DirectAnswers(direct),
  cleanup: async () => {},
}));
