// RFC 5256: base subjects, thread formatting and the REFERENCES / ORDEREDSUBJECT algorithms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarizeMessage } from '../mime/index.ts';
import type { MessageWithSummary } from '../store/types.ts';
import { baseSubject, formatThreads, orderedSubject, referencesThreads } from './thread.ts';

function msg(uid: number, subject: string, id: string, refs = '', day = uid): MessageWithSummary {
  const raw = Buffer.from(`Subject: ${subject}\r\nMessage-ID: <${id}>\r\n${refs ? `References: ${refs}\r\n` : ''}Date: ${day} Jan 2020 10:00:00 +0000\r\n\r\nx\r\n`);
  return { uid, modseq: 1, flags: [], internalDate: 0, size: raw.length, bodyId: uid, summary: summarizeMessage(raw) };
}

test('base subject (RFC 5256 2.1)', () => {
  assert.equal(baseSubject('Re: Fwd: [list] Re: Hello  world (fwd)'), 'hello world');
  assert.equal(baseSubject('[fwd: Hi there]'), 'hi there');
  assert.equal(baseSubject('RE:re: x'), 'x');
  assert.equal(baseSubject('[only a blob]'), '[only a blob]');
});

test('REFERENCES threads by References, then by subject', () => {
  const ms = [
    msg(1, 'Hello', 'a@x'),
    msg(2, 'Re: Hello', 'b@x', '<a@x>'),
    msg(3, 'Re: Hello', 'c@x', '<a@x>'),
    msg(4, 'Other', 'd@x'),
    msg(5, 'Re: Hello', 'e@x', '<a@x> <b@x>'),
    msg(6, 'Re: Other', 'f@x', '<missing@x>'),
  ];
  const out = formatThreads(referencesThreads(ms, (m) => m.uid));
  assert.equal(out, '(1 (2 5)(3))(4 6)');
});

test('ORDEREDSUBJECT', () => {
  const ms = [msg(1, 'A', '1@x'), msg(2, 'Re: A', '2@x'), msg(3, 'B', '3@x'), msg(4, 'Re: A', '4@x')];
  assert.equal(formatThreads(orderedSubject(ms, (m) => m.uid)), '(1 (2)(4))(3)');
});
