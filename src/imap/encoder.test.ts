import { test } from 'node:test';
import assert from 'node:assert/strict';
import { literal, str, toBuffer } from './encoder.ts';
import { imapString, renderEnvelope } from '../mime/imap-syntax.ts';
import { summarizeMessage } from '../mime/summarize.ts';

test('no NUL reaches the client outside a literal8 (RFC 9051: CHAR8 is %x01-ff)', () => {
  const data = Buffer.from('Subject: a\0b\r\n\r\nbody \0 here\r\n');
  // Message data: each NUL sent as 0x80, as Dovecot does; same length, so partial offsets hold.
  const plain = toBuffer(literal(data));
  assert.equal(plain.toString('latin1'), `{${data.length}}\r\n` + data.toString('latin1').replaceAll('\0', '\x80'));
  assert.ok(!plain.includes(0));
  assert.equal(data.indexOf(0), 10, 'the source is not changed');
  // BINARY (literal8) may carry it.
  assert.ok(toBuffer(literal(data, true)).includes(0));

  // Strings: ENVELOPE, BODYSTRUCTURE and the like.
  const envelope = renderEnvelope(summarizeMessage(Buffer.from('Subject: a\0b\r\nFrom: "N\0ame" <x@example.org>\r\n\r\nbody\r\n')).envelope);
  assert.ok(!envelope.includes('\0'), envelope);
  assert.match(envelope, /a\uFFFDb/);
  assert.ok(!imapString('x\0y').includes('\0'));
  assert.ok(!toBuffer(str('x\0y')).includes(0));
});
