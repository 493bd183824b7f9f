import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { extractSearchText, htmlToText } from './text.ts';
import { decodeHeaderValue } from './encoded-word.ts';
import { decodeQuotedPrintable, decodeTransfer } from './transfer.ts';
import { decodeCharset } from './charset.ts';
import { MAX_SEARCH_BODY_CHARS } from './limits.ts';

const fixture = (name: string) => readFileSync(new URL(`../../test/fixtures/mime/${name}`, import.meta.url));

test('RFC 2047: B and Q words, adjacent words joined, split multi-byte characters, unknown charsets', () => {
  assert.equal(decodeHeaderValue('=?UTF-8?B?SsO2cmcgTcO8bGxlcg==?= <j@x>'), 'Jörg Müller <j@x>');
  assert.equal(decodeHeaderValue('=?utf-8?q?caf=C3=A9?= =?utf-8?q?_cr=C3=A8me?= and more'), 'café crème and more');
  assert.equal(decodeHeaderValue('=?utf-8?q?=C3?= =?utf-8?q?=A9?='), 'é');
  assert.equal(decodeHeaderValue('=?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?='), '日本語');
  assert.equal(decodeHeaderValue('=?iso-8859-1*fr?q?Fran=E7ois?='), 'François');
  assert.equal(decodeHeaderValue('=?x-unknown?q?abc?='), 'abc');
  assert.equal(decodeHeaderValue('plain =? not a word ?='), 'plain =? not a word ?=');
});

test('quoted-printable: soft breaks, trailing blanks, malformed escapes kept', () => {
  assert.equal(decodeQuotedPrintable(Buffer.from('a=3Db=\r\nc  \r\nd=ZZ=4')).toString('latin1'), 'a=bc\r\nd=ZZ=4');
  assert.equal(decodeTransfer(Buffer.from('aGVs bG8=\r\n'), 'base64')!.toString(), 'hello');
  assert.equal(decodeTransfer(Buffer.from('x'), 'x-uuencode'), null);
});

test('charsets: declared ones converted, unknown ones fall back to UTF-8 or Latin-1', () => {
  assert.equal(decodeCharset(Buffer.from([0xf0, 0xd2, 0xc9]), 'koi8-r'), 'При');
  assert.equal(decodeCharset(Buffer.from('Käse'), 'x-nonsense'), 'Käse');
  assert.equal(decodeCharset(Buffer.from([0x4b, 0xe4]), null), 'Kä');
});

test('search text: decoded headers, base64/QP/8-bit bodies, charsets, HTML reduced, attachments skipped', () => {
  const enc = extractSearchText(fixture('encoded-words.eml'));
  assert.match(enc.header, /subject: café crème and 日本語/);
  assert.match(enc.header, /from: Jörg Müller <joerg@example.de>/);
  assert.match(enc.body, /Grüße aus Köln\. Searchable: zebrafish\./);
  const nested = extractSearchText(fixture('nested-multipart.eml'));
  assert.match(nested.body, /Hello Bob, this is the plain text with ünïcödé\./);
  assert.match(nested.body, /Hello Bob, this is HTML with ünïcödé and a soft break\./);
  assert.doesNotMatch(nested.body, /<b>|JVBER|AAECAw/, 'no tags, no base64 of the PDF');
  const unk = extractSearchText(fixture('unknown-charset.eml'));
  assert.match(unk.body, /giraffe/);
  assert.match(unk.body, /Привет мир/);
  const fwd = extractSearchText(fixture('rfc822-attached.eml'));
  assert.match(fwd.body, /Original plain text\.[\s\S]*Original HTML\./);
});

test('HTML to text: script/style dropped, entities decoded, linear on hostile input', () => {
  assert.equal(htmlToText('<style>p{}</style><p>a&amp;b&#233;&#x41;</p><script>x()</script>c'), ' \na&béA\n c');
  const start = performance.now();
  htmlToText('<script'.repeat(100000) + '&'.repeat(100000) + '<'.repeat(100000));
  assert.ok(performance.now() - start < 2000);
});

test('search text is bounded', () => {
  const big = Buffer.from('Subject: big\r\n\r\n' + 'word '.repeat(MAX_SEARCH_BODY_CHARS));
  const t = extractSearchText(big);
  assert.ok(t.body.length <= MAX_SEARCH_BODY_CHARS);
});
