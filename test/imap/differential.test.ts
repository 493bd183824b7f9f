// Differential suite: the same messages APPENDed to a private Dovecot (Debian's, started for this test) and
// answered by mailstack; ENVELOPE, BODYSTRUCTURE, BODY[sections], BINARY[parts] and SEARCH compared after
// normalising harmless differences (differential-compare.ts). Known, deliberate differences are listed in
// KNOWN_DIFFERENCES with the reason, and in docs/imap-differences.md.
//
// The mailstack side is computed straight from src/mime (summarizeMessage + the IMAP renderer +
// extractSection/decodeBinarySection + extractSearchText): the exact data the IMAP server sends.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { dovecotBinary, startDovecot, type DovecotInstance } from './differential-dovecot.ts';
import { RawImapClient, parseFetch, type ImapValue } from './differential-client.ts';
import { DirectSide, leafPaths, normalise, sectionsOf } from './differential-compare.ts';
import { fixtureMessages, spamAssassinSample, type CorpusMessage } from './differential-corpus.ts';

/** message name -> items whose difference is deliberate ("*" = every item), with the reason. */
export const KNOWN_DIFFERENCES: Record<string, { items: string[]; reason: string }> = {
  'missing-boundary.eml': {
    items: ['*'],
    reason: 'multipart without a boundary parameter: Dovecot shows one empty text part, mailstack the body as one text part',
  },
  'wrong-boundary.eml': {
    items: ['*'],
    reason: 'multipart whose delimiter never occurs: Dovecot shows one empty text part, mailstack the body as one text part',
  },
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
  return !!k && (k.items.includes('*') || k.items.includes(item));
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

describe('differential: mailstack MIME answers vs Dovecot', { skip: dovecotBinary() ? false : 'dovecot is not installed (apt-get install dovecot-imapd); differential suite skipped' }, () => {
  let dovecot: DovecotInstance;
  let client: RawImapClient;
  let corpus: CorpusMessage[];
  let direct: DirectSide;

  before(async () => {
    corpus = [...fixtureMessages(), ...spamAssassinSample(SAMPLE_SIZE, SAMPLE_STEP)];
    direct = new DirectSide(corpus.map((m) => m.raw));
    dovecot = await startDovecot();
    client = await RawImapClient.open(dovecot.host, dovecot.port);
    await client.ok(`LOGIN ${dovecot.user} ${dovecot.password}`);
    for (const m of corpus) await client.ok('APPEND INBOX ', m.raw);
    await client.ok('SELECT INBOX');
  });

  async function connect(): Promise<RawImapClient> {
    const c = await RawImapClient.open(dovecot.host, dovecot.port);
    await c.ok(`LOGIN ${dovecot.user} ${dovecot.password}`);
    await c.ok('SELECT INBOX');
    return c;
  }

  after(async () => {
    await client?.close();
    await dovecot?.stop();
  });

  test('the corpus holds the hand-made fixtures and a SpamAssassin sample', () => {
    assert.ok(corpus.length >= fixtureMessages().length + Math.min(SAMPLE_SIZE, 100), `only ${corpus.length} messages`);
  });

  test('ENVELOPE and BODYSTRUCTURE are the same', async () => {
    const diffs: Difference[] = [];
    for (let i = 0; i < corpus.length; i++) {
      const r = await client.ok(`FETCH ${i + 1} (ENVELOPE BODYSTRUCTURE)`);
      const got = parseFetch(r.untagged.find((l) => / FETCH /.test(l.toString('latin1', 0, 30)))!);
      const name = corpus[i]!.name;
      const pairs: [string, ImapValue | undefined, ImapValue, boolean][] = [
        ['ENVELOPE', got.get('ENVELOPE'), direct.envelope(i), false],
        ['BODYSTRUCTURE', got.get('BODYSTRUCTURE'), direct.bodyStructure(i), true],
      ];
      for (const [item, theirs, ours, lower] of pairs) {
        const a = normalise(theirs ?? null, lower);
        const b = normalise(ours, lower);
        if (!isDeepStrictEqual(a, b) && !known(name, item)) diffs.push({ message: name, item, dovecot: a, mailstack: b });
      }
    }
    assert.equal(diffs.length, 0, `${diffs.length} differences:\n${report(diffs)}`);
  });

  test('BODY[section] answers are byte-identical', async () => {
    const diffs: Difference[] = [];
    for (let i = 0; i < corpus.length; i++) {
      const name = corpus[i]!.name;
      if (known(name, '*')) continue;
      const sections = sectionsOf(direct.summaries[i]!);
      const r = await client.ok(`FETCH ${i + 1} (${sections.map((s) => `BODY.PEEK[${s.fetch}]`).join(' ')})`);
      const got = parseFetch(r.untagged.find((l) => / FETCH /.test(l.toString('latin1', 0, 30)))!);
      for (const s of sections) {
        const theirs = asBuffer(got.get(`BODY[${s.fetch}]`));
        const ours = direct.section(i, s.spec);
        if (!(theirs ?? Buffer.alloc(0)).equals(ours ?? Buffer.alloc(0)) && !known(name, s.fetch)) {
          diffs.push({ message: name, item: `BODY[${s.fetch}]`, dovecot: theirs?.toString('latin1'), mailstack: ours?.toString('latin1') });
        }
      }
    }
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
        let r;
        try {
          r = await client.command(`FETCH ${i + 1} (BINARY.PEEK[${section}])`);
        } catch (err) {
          // Dovecot ends the session when it cannot decode a part (e.g. "Base64 data ends prematurely");
          // mailstack decodes what is there, as RFC 2045 6.8 asks of readers. Counted, not a failure.
          const logged = await dovecot.waitForLog(new RegExp(`UID=${i + 1}: .*failed: .*(Base64|quoted-printable)`, 'i'), 5000);
          if (!logged) throw new Error(`${String(err)}; dovecot log: ${dovecot.log().slice(-800)}`);
          dovecotDecodeErrors++;
          client = await connect();
          continue;
        }
        const ours = direct.binary(i, path);
        if (r.status === 'NO' && /\[PARSE\]/.test(r.text) && ours !== null) {
          // Dovecot refuses to decode invalid base64/quoted-printable ("Invalid data in MIME part");
          // mailstack decodes leniently as RFC 2045 6.7/6.8 suggest. Counted, not a failure.
          dovecotDecodeErrors++;
          continue;
        }
        if (r.status !== 'OK') {
          // RFC 3516 4.3: [UNKNOWN-CTE] when the server cannot decode the part.
          if (ours !== null || !/UNKNOWN-CTE/.test(r.text)) diffs.push({ message: name, item: `BINARY[${section}]`, dovecot: r.text, mailstack: ours?.toString('latin1') });
          else unknownCte++;
          continue;
        }
        const got = parseFetch(r.untagged.find((l) => / FETCH /.test(l.toString('latin1', 0, 30)))!);
        const theirs = asBuffer(got.get(`BINARY[${section}]`));
        if (!(theirs ?? Buffer.alloc(0)).equals(ours ?? Buffer.alloc(0)) && !known(name, `BINARY[${section}]`)) {
          diffs.push({ message: name, item: `BINARY[${section}]`, dovecot: theirs?.toString('latin1'), mailstack: ours?.toString('latin1') });
        } else decoded++;
      }
    }
    assert.ok(decoded > 100, `only ${decoded} parts compared`);
    assert.ok(dovecotDecodeErrors <= decoded / 20, `Dovecot failed to decode ${dovecotDecodeErrors} parts`);
    assert.ok(unknownCte >= 1, 'the x-uuencode fixture part must give UNKNOWN-CTE on both sides');
    assert.equal(diffs.length, 0, `${diffs.length} differences:\n${report(diffs)}`);
  });

  test('SEARCH on decoded text finds the same messages', async () => {
    const queries: ['BODY' | 'TEXT' | 'SUBJECT' | 'FROM', string][] = [
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
    for (const [key, needle] of queries) {
      const bytes = Buffer.from(needle, 'utf8');
      const r = await client.ok(`SEARCH CHARSET UTF-8 ${key} `, bytes);
      const line = r.untagged.map((l) => l.toString('utf8')).find((l) => l.startsWith('* SEARCH')) ?? '* SEARCH';
      const comparable = (n: number) => !known(corpus[n - 1]!.name, 'SEARCH');
      let theirs = line.slice(8).trim().split(/\s+/).filter(Boolean).map(Number).filter(comparable);
      let ours = direct.search(key, needle).filter(comparable);
      // Dovecot searches HTML source (tags too), mailstack the HTML's text: drop the messages where that is
      // the whole reason for a difference.
      const onlyOne = new Set([...theirs.filter((n) => !ours.includes(n)), ...ours.filter((n) => !theirs.includes(n))]);
      for (const n of onlyOne) {
        if (direct.htmlExplains(n - 1, needle)) {
          htmlExplained++;
          theirs = theirs.filter((x) => x !== n);
          ours = ours.filter((x) => x !== n);
        }
      }
      hits += ours.length;
      if (!isDeepStrictEqual(theirs, ours)) {
        diffs.push({ message: `${key} "${needle}"`, item: 'SEARCH', dovecot: theirs.map((n) => corpus[n - 1]!.name), mailstack: ours.map((n) => corpus[n - 1]!.name) });
      }
    }
    assert.ok(hits > 20, `only ${hits} hits: the queries do not exercise the corpus`);
    assert.ok(htmlExplained < hits / 4, `${htmlExplained} differences put down to HTML: too many to be only that`);
    assert.equal(diffs.length, 0, `${diffs.length} differences:\n${report(diffs)}`);
  });
});
