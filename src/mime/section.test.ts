import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { summarizeMessage } from './summarize.ts';
import { decodeBinarySection, extractSection, resolvePart } from './section.ts';

const fixture = (name: string) => readFileSync(new URL(`../../test/fixtures/mime/${name}`, import.meta.url));
const str = (b: Buffer | null) => (b === null ? null : b.toString('utf8'));

test('top-level sections: HEADER, TEXT, HEADER.FIELDS (with the blank line), HEADER.FIELDS.NOT', () => {
  const raw = Buffer.from('From: a@b\r\nSubject: s\r\n x\r\nTo: c@d\r\n\r\nbody\r\n');
  const s = summarizeMessage(raw);
  assert.equal(str(extractSection(raw, s, { part: [], kind: 'header' })), 'From: a@b\r\nSubject: s\r\n x\r\nTo: c@d\r\n\r\n');
  assert.equal(str(extractSection(raw, s, { part: [], kind: 'text' })), 'body\r\n');
  assert.equal(str(extractSection(raw, s, { part: [], kind: 'header.fields', fields: ['subject', 'X-NONE'] })), 'Subject: s\r\n x\r\n\r\n');
  assert.equal(str(extractSection(raw, s, { part: [], kind: 'header.fields.not', fields: ['SUBJECT'] })), 'From: a@b\r\nTo: c@d\r\n\r\n');
  assert.equal(extractSection(raw, s, { part: [], kind: 'full' }), raw);
  assert.equal(extractSection(raw, s, { part: [], kind: 'mime' }), null);
});

test('part 1 of a non-multipart message is its body; 1.MIME its header (RFC 9051 6.4.5)', () => {
  const raw = Buffer.from('Subject: s\r\n\r\nbody');
  const s = summarizeMessage(raw);
  assert.equal(str(extractSection(raw, s, { part: [1], kind: 'full' })), 'body');
  assert.equal(str(extractSection(raw, s, { part: [1], kind: 'mime' })), 'Subject: s\r\n\r\n');
  assert.equal(extractSection(raw, s, { part: [2], kind: 'full' }), null);
  assert.equal(extractSection(raw, s, { part: [1, 1], kind: 'full' }), null);
});

test('nested parts and message/rfc822: N.HEADER, N.TEXT and N.1 address the encapsulated message', () => {
  const raw = fixture('rfc822-attached.eml');
  const s = summarizeMessage(raw);
  assert.match(str(extractSection(raw, s, { part: [2], kind: 'header' }))!, /^From: Original Sender.*\r\n\r\n$/s);
  assert.match(str(extractSection(raw, s, { part: [2], kind: 'text' }))!, /^--b2\r\n/);
  assert.equal(str(extractSection(raw, s, { part: [2], kind: 'header.fields', fields: ['subject'] })), 'Subject: the original\r\n\r\n');
  assert.equal(str(extractSection(raw, s, { part: [2, 1], kind: 'full' })), 'Original plain text.');
  assert.equal(str(extractSection(raw, s, { part: [2, 2], kind: 'mime' })), 'Content-Type: text/html; charset=us-ascii\r\n\r\n');
  assert.equal(str(extractSection(raw, s, { part: [3, 1], kind: 'full' })), 'Just text in a forwarded message.');
  assert.equal(str(extractSection(raw, s, { part: [2], kind: 'mime' })), 'Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n');
  assert.equal(resolvePart(s.bodyStructure, [0]), null);
  assert.equal(resolvePart(s.bodyStructure, [4]), null);
});

test('BINARY decodes base64 and quoted-printable; unknown encodings give null (UNKNOWN-CTE)', () => {
  const nested = fixture('nested-multipart.eml');
  const s = summarizeMessage(nested);
  const pdf = decodeBinarySection(nested, s, [2])!;
  assert.equal(pdf.length, 768);
  assert.equal(pdf[255], 255);
  assert.match(decodeBinarySection(nested, s, [1, 2])!.toString('utf8'), /HTML<\/b> with ünïcödé and a soft break/);
  const odd = fixture('odd-content-type.eml');
  const o = summarizeMessage(odd);
  assert.equal(decodeBinarySection(odd, o, [3]), null);
  assert.equal(decodeBinarySection(odd, o, [4])!.toString(), 'hello world');
  assert.equal(decodeBinarySection(odd, o, [9]), null);
});
