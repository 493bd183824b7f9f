import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { summarizeMessage } from './summarize.ts';
import { renderBodyStructure, renderEnvelope } from './imap-syntax.ts';
import type { BodyPart } from './types.ts';
import { MAX_MIME_DEPTH, MAX_MIME_PARTS } from './limits.ts';

const crlf = (s: string) => Buffer.from(s.replace(/\r?\n/g, '\r\n'), 'utf8');
const fixtures = new URL('../../test/fixtures/mime/', import.meta.url).pathname;

test('a message without Content-Type is text/plain; charset=us-ascii; 7bit (RFC 2045 5.2)', () => {
  const raw = crlf('Subject: hi\n\nline one\nline two\n');
  const s = summarizeMessage(raw);
  const b = s.bodyStructure;
  assert.equal(`${b.type}/${b.subtype}`, 'text/plain');
  assert.deepEqual(b.params, { charset: 'us-ascii' });
  assert.equal(b.encoding, '7bit');
  assert.equal(b.size, 20);
  assert.equal(b.lines, 2);
  assert.equal(s.headerSize, 15);
  assert.equal(b.bodyStart, 15);
  assert.equal(raw.subarray(b.bodyStart, b.bodyEnd).toString(), 'line one\r\nline two\r\n');
});

test('multipart offsets exclude the line break before each delimiter (RFC 2046 5.1.1)', () => {
  const raw = crlf('Content-Type: multipart/mixed; boundary=b\n\npreamble\n--b\nContent-Type: text/plain\n\none\n--b\n\ntwo\n--b--\nepilogue\n');
  const s = summarizeMessage(raw);
  const [a, b] = s.bodyStructure.children!;
  assert.equal(raw.subarray(a!.bodyStart, a!.bodyEnd).toString(), 'one');
  assert.equal(raw.subarray(a!.headerStart, a!.bodyStart).toString(), 'Content-Type: text/plain\r\n\r\n');
  assert.equal(raw.subarray(b!.bodyStart, b!.bodyEnd).toString(), 'two');
  assert.equal(b!.headerStart, b!.bodyStart - 2, 'a part starting with a blank line has an empty header');
});

test('a boundary that is a prefix of a longer line is not a delimiter', () => {
  const raw = crlf('Content-Type: multipart/mixed; boundary=L1\n\n--L1\n\n--L10 is text\n--L1--\n');
  const s = summarizeMessage(raw);
  assert.equal(s.bodyStructure.children!.length, 1);
  const p = s.bodyStructure.children![0]!;
  assert.equal(raw.subarray(p.bodyStart, p.bodyEnd).toString(), '--L10 is text');
});

test('bare LF line ends are handled with exact offsets', () => {
  const raw = Buffer.from('Content-Type: multipart/alternative; boundary="x"\n\n--x\nContent-Type: text/html\n\n<p>hi</p>\n--x--\n');
  const s = summarizeMessage(raw);
  const p = s.bodyStructure.children![0]!;
  assert.equal(p.subtype, 'html');
  assert.equal(raw.subarray(p.bodyStart, p.bodyEnd).toString(), '<p>hi</p>');
});

test('message/rfc822 carries the encapsulated envelope and structure', () => {
  const raw = readFileSync(join(fixtures, 'rfc822-attached.eml'));
  const s = summarizeMessage(raw);
  const fwd = s.bodyStructure.children![1]!;
  assert.equal(fwd.type, 'message');
  assert.equal(fwd.envelope!.subject, 'the original');
  assert.equal(fwd.envelope!.from![0]!.name, 'Original Sender');
  const inner = fwd.children![0]!;
  assert.equal(inner.subtype, 'alternative');
  assert.equal(inner.headerStart, fwd.bodyStart);
  assert.equal(inner.children!.length, 2);
  assert.ok(fwd.lines! > 10);
});

test('ENVELOPE: groups, routes, missing parts, Sender/Reply-To default to From (RFC 9051 7.5.2)', () => {
  const raw = crlf('From: "Doe, John" <john@example.com>\nTo: team: a@x.org, B <b@x.org>;\nCc: <@r1,@r2:c@x.org>, nodomain\nSubject: =?utf-8?q?x?=\n\n');
  const e = summarizeMessage(raw).envelope;
  assert.deepEqual(e.from, [{ name: 'Doe, John', adl: null, mailbox: 'john', host: 'example.com' }]);
  assert.deepEqual(e.sender, e.from);
  assert.deepEqual(e.replyTo, e.from);
  assert.deepEqual(e.to, [
    { name: null, adl: null, mailbox: 'team', host: null },
    { name: null, adl: null, mailbox: 'a', host: 'x.org' },
    { name: 'B', adl: null, mailbox: 'b', host: 'x.org' },
    { name: null, adl: null, mailbox: null, host: null },
  ]);
  assert.deepEqual(e.cc, [
    { name: null, adl: '@r1,@r2', mailbox: 'c', host: 'x.org' },
    { name: null, adl: null, mailbox: 'nodomain', host: 'MISSING_DOMAIN' },
  ]);
  assert.equal(e.subject, '=?utf-8?q?x?=', 'ENVELOPE values stay raw');
  assert.equal(e.bcc, null);
});

test('extension data: md5, disposition, language, location, RFC 2231 continuations', () => {
  const s = summarizeMessage(readFileSync(join(fixtures, 'nested-multipart.eml')));
  const pdf = s.bodyStructure.children![1]!;
  assert.equal(pdf.md5, 'Q2hlY2sgSW50ZWdyaXR5IQ==');
  assert.deepEqual(pdf.disposition, { type: 'attachment', params: { filename: 'report.pdf', size: '768' } });
  assert.deepEqual(pdf.language, ['de', 'en-GB']);
  assert.equal(pdf.location, 'http://example.org/report.pdf');
  const r = summarizeMessage(readFileSync(join(fixtures, 'rfc2231.eml')));
  assert.equal(r.bodyStructure.children![0]!.params['name'], 'very long file name.bin');
  assert.equal(r.bodyStructure.children![0]!.disposition!.params['filename*'], "UTF-8''%E2%82%AC%20rates.bin");
});

test('nesting deeper than the limit becomes an opaque leaf, without deep recursion', () => {
  const depth = MAX_MIME_DEPTH + 500;
  let s = 'Content-Type: multipart/mixed; boundary="L0"\r\n\r\n';
  for (let i = 1; i < depth; i++) s += `--L${i - 1}\r\nContent-Type: multipart/mixed; boundary="L${i}"\r\n\r\n`;
  const summary = summarizeMessage(Buffer.from(s));
  let node: BodyPart = summary.bodyStructure;
  let levels = 0;
  while (node.children) {
    node = node.children[0]!;
    levels++;
  }
  assert.equal(levels, MAX_MIME_DEPTH - 1);
  assert.equal(`${node.type}/${node.subtype}`, 'application/octet-stream');
});

test('the number of parts is bounded', () => {
  const parts = MAX_MIME_PARTS * 3;
  const raw = Buffer.from('Content-Type: multipart/mixed; boundary=b\r\n\r\n' + '--b\r\n\r\nx\r\n'.repeat(parts) + '--b--\r\n');
  const s = summarizeMessage(raw);
  assert.ok(s.bodyStructure.children!.length < MAX_MIME_PARTS);
});

test('hostile inputs never throw and finish quickly', () => {
  const inputs: Buffer[] = [
    Buffer.alloc(0),
    Buffer.from('\r\n\r\n'),
    Buffer.from('no header at all'),
    Buffer.from('Content-Type: multipart/mixed; boundary=""\r\n\r\n----\r\n'),
    Buffer.from('Content-Type: message/rfc822\r\n\r\n'),
    Buffer.from('Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\n--d--'),
    Buffer.from('From: ' + '('.repeat(100000) + '\r\nTo: ' + '<'.repeat(50000) + '\r\n\r\n'),
    Buffer.from('Subject: ' + 'x'.repeat(2_000_000) + '\r\n\r\n'),
    Buffer.from('Date: ' + '('.repeat(250_000) + '\r\n\r\n'),
    Buffer.from('Date: Mon, 2 Mar 2026 10:00:00 +0000 ' + '(x'.repeat(400) + '\r\n\r\n'),
    Buffer.from('X: y\r\n'.repeat(200000) + '\r\nbody'),
    Buffer.from('Content-Type: text/plain; ' + 'a=b; '.repeat(100000) + '\r\n\r\n'),
    Buffer.from([0xff, 0xfe, 0x00, 0x0a, 0x0d, 0x0a, 0x3a, 0x0a, 0x0a]),
  ];
  for (let i = 0; i < 200; i++) inputs.push(Buffer.from(Array.from({ length: 300 }, (_, j) => ((i * 7919 + j * 104729) % 97) + 10)));
  for (const raw of inputs) {
    const start = performance.now();
    const s = summarizeMessage(raw);
    assert.ok(performance.now() - start < 2000, 'bounded time');
    assert.ok(s.bodyStructure.bodyEnd <= raw.length && s.bodyStructure.bodyStart <= s.bodyStructure.bodyEnd);
    renderBodyStructure(s.bodyStructure, true);
    renderEnvelope(s.envelope);
  }
});

test('every hand-made fixture summarises to consistent offsets', () => {
  for (const f of readdirSync(fixtures).filter((n) => n.endsWith('.eml'))) {
    const raw = readFileSync(join(fixtures, f));
    const check = (p: BodyPart, lo: number, hi: number): void => {
      assert.ok(lo <= p.headerStart && p.headerStart <= p.bodyStart && p.bodyStart <= p.bodyEnd && p.bodyEnd <= hi, `${f}: offsets in range`);
      assert.equal(p.size, p.bodyEnd - p.bodyStart, `${f}: size`);
      for (const c of p.children ?? []) check(c, p.bodyStart, p.bodyEnd);
    };
    check(summarizeMessage(raw).bodyStructure, 0, raw.length);
  }
});

test('fuzz: mutated fixtures never throw and keep offsets in range (bounded run)', async () => {
  const { extractSection, decodeBinarySection } = await import('./section.ts');
  const { extractSearchText } = await import('./text.ts');
  let seed = 1234567;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  const pieces = ['\r\n', '\n', '--', 'Content-Type: multipart/mixed; boundary=b\r\n', '--b\r\n', '--b--', '=?utf-8?b?', '?=', '<', '>', '"', '(', ':', ';', '\r\n\r\n', '=\r\n', 'message/rfc822'];
  const sources = readdirSync(fixtures).filter((n) => n.endsWith('.eml')).map((f) => readFileSync(join(fixtures, f)));
  for (let round = 0; round < 400; round++) {
    let raw = Buffer.from(sources[rnd(sources.length)]!);
    for (let m = 0, count = 1 + rnd(8); m < count; m++) {
      const at = rnd(raw.length + 1);
      const kind = rnd(3);
      if (kind === 0) raw = Buffer.concat([raw.subarray(0, at), Buffer.from(pieces[rnd(pieces.length)]!), raw.subarray(at)]);
      else if (kind === 1) raw = Buffer.concat([raw.subarray(0, at), raw.subarray(Math.min(raw.length, at + rnd(40)))]);
      else if (at < raw.length) raw[at] = rnd(256);
    }
    const s = summarizeMessage(raw);
    const walk = (p: BodyPart, path: number[]): void => {
      assert.ok(p.headerStart <= p.bodyStart && p.bodyStart <= p.bodyEnd && p.bodyEnd <= raw.length);
      if (path.length > 0) {
        extractSection(raw, s, { part: path, kind: 'mime' });
        decodeBinarySection(raw, s, path);
      }
      (p.children ?? []).forEach((c, i) => walk(c, p.type === 'multipart' ? [...path, i + 1] : path));
    };
    walk(s.bodyStructure, []);
    extractSection(raw, s, { part: [], kind: 'header.fields', fields: ['from'] });
    extractSearchText(raw);
    renderBodyStructure(s.bodyStructure, true);
    renderEnvelope(s.envelope);
  }
});

test('the sent date is parsed with RFC 5322 comments, and a crafted Date costs linear time', () => {
  const at = (date: string) => summarizeMessage(Buffer.from(`Date: ${date}\r\n\r\n`)).sentDate;
  assert.equal(at('Mon, 2 Mar 2026 10:00:00 -0500 (EST)'), Date.UTC(2026, 2, 2, 15, 0, 0));
  assert.equal(at('Mon, 2 Mar 2026 (a comment) 10:00:00 +0000'), Date.UTC(2026, 2, 2, 10, 0, 0));
  assert.equal(at('not a date'), null);
  // Unclosed "(" under the length cap: each one must not rescan the rest of the value.
  const start = performance.now();
  assert.equal(at('('.repeat(990)), null);
  assert.equal(at('Mon, 2 Mar 2026 10:00:00 +0000 ' + '('.repeat(200_000)), null);
  assert.ok(performance.now() - start < 2000, 'bounded time');
});
