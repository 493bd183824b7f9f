// Unit tests of the pure parser: framing, tokens, sequence sets, mailbox names, FETCH and SEARCH grammar.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Framer, tagOf } from './frame.ts';
import { CommandParser } from './tokens.ts';
import { parseSequenceSet, resolveSet, formatSet } from './sequence.ts';
import { parseFetchItems, sectionLabel } from './fetch.ts';
import { parseSearch } from './search.ts';
import { decodeMutf7, encodeMutf7 } from '../mutf7.ts';
import { checkMailboxName, compilePattern } from '../names.ts';
import { ImapNo, ImapSyntaxError } from '../errors.ts';

const parser = (line: string, literals: Buffer[] = []) => new CommandParser({ lines: line.split('\u0001'), literals });

test('framer: lines, literals, continuation, limits', () => {
  const f = new Framer(() => 10);
  let ev = f.push(Buffer.from('a1 NOOP\r\na2 LOGIN {3}\r\n'));
  assert.equal(ev.length, 2);
  assert.deepEqual(ev[0], { kind: 'frame', frame: { lines: ['a1 NOOP'], literals: [] } });
  assert.deepEqual(ev[1], { kind: 'continue' });
  ev = f.push(Buffer.from('bob {2+}\r\npw\r\n'));
  assert.equal(ev.length, 1);
  const got = ev[0];
  assert.ok(got && got.kind === 'frame');
  assert.deepEqual(got.frame.literals.map(String), ['bob', 'pw']);
  assert.deepEqual(got.frame.lines, ['a2 LOGIN {3}', ' {2+}', '']);
  ev = f.push(Buffer.from('a3 APPEND x {11}\r\n'));
  assert.deepEqual(ev, [{ kind: 'reject', tag: 'a3', status: 'NO', code: 'TOOBIG', text: 'Literal of 11 octets is over the limit of 10', close: false }]);
  ev = f.push(Buffer.from('a4 NOOP\r\n'));
  assert.equal(ev[0]?.kind, 'frame');
  assert.equal(tagOf('a(b NOOP'), '*');
  assert.equal(tagOf('abc NOOP'), 'abc');
});

test('tokens: atoms, quoted strings, literals, nesting bound', () => {
  const p = parser('a "q\\"x" atom {3}\u0001 NIL', [Buffer.from('lit')]);
  assert.equal(p.atom(), 'a');
  p.sp();
  assert.equal(p.astring(), 'q"x');
  p.sp();
  assert.equal(p.astring(), 'atom');
  p.sp();
  assert.equal(p.astring(), 'lit');
  p.sp();
  assert.equal(p.nstring(), null);
  p.end();
  assert.throws(() => parser('"unterminated').astring(), ImapSyntaxError);
  const deep = parser('('.repeat(40));
  assert.throws(() => {
    for (;;) deep.open();
  }, /nested deeper/);
});

test('sequence sets', () => {
  const set = parseSequenceSet(parser('1:3,5,7:*'));
  assert.ok(set.kind === 'ranges');
  assert.deepEqual(resolveSet(set.ranges, [1, 2, 3, 4, 5, 6, 7, 8]), [1, 2, 3, 5, 7, 8]);
  const rev = parseSequenceSet(parser('*:4'));
  assert.ok(rev.kind === 'ranges');
  assert.deepEqual(resolveSet(rev.ranges, [2, 4, 9]), [4, 9]);
  assert.deepEqual(resolveSet(rev.ranges, []), []);
  assert.equal(parseSequenceSet(parser('$')).kind, 'saved');
  assert.equal(formatSet([1, 2, 3, 5, 7, 8]), '1:3,5,7:8');
  assert.throws(() => parseSequenceSet(parser('0')), ImapSyntaxError);
});

test('modified UTF-7 and mailbox names', () => {
  assert.equal(encodeMutf7('Entwürfe'), 'Entw&APw-rfe');
  assert.equal(encodeMutf7('a&b'), 'a&-b');
  assert.equal(decodeMutf7('Entw&APw-rfe'), 'Entwürfe');
  assert.equal(decodeMutf7('&ZeVnLIqe-'), '日本語');
  assert.throws(() => decodeMutf7('&AOk'), ImapSyntaxError);
  for (const bad of ['a/../b', '..', 'a//b', '/a', 'a/', 'x\u0007', 'a*b']) assert.throws(() => checkMailboxName(bad), ImapNo, bad);
  checkMailboxName('Archive/2024');
  const m = compilePattern('', 'Arch%');
  assert.ok(m('Archive') && !m('Archive/2024'));
  assert.ok(compilePattern('', 'inbox')('INBOX'));
  assert.ok(compilePattern('Archive', '*')('Archive/2024'));
});

test('FETCH grammar', () => {
  const a = parseFetchItems(parser('(UID BODY.PEEK[1.2.HEADER.FIELDS (From To)]<0.10> BINARY.SIZE[1]) (CHANGEDSINCE 7)'));
  assert.equal(a.items.length, 3);
  assert.equal(a.changedSince, 7);
  const s = a.items[1];
  assert.ok(s && s.kind === 'section');
  assert.deepEqual(s.section, { part: [1, 2], kind: 'header.fields', fields: ['From', 'To'] });
  assert.equal(sectionLabel(s.section), '1.2.HEADER.FIELDS (FROM TO)');
  assert.deepEqual(s.partial, { offset: 0, length: 10 });
  assert.equal(parseFetchItems(parser('FULL')).items.length, 5);
  assert.throws(() => parseFetchItems(parser('BODY[FOO]')), ImapSyntaxError);
  assert.throws(() => parseFetchItems(parser('(FLAGS')), ImapSyntaxError);
});

test('SEARCH grammar', () => {
  const s = parseSearch(parser('RETURN (MIN COUNT) CHARSET UTF-8 OR FROM x (SINCE 1-Feb-1994 NOT SEEN) 1:3'));
  assert.deepEqual(s.returnOptions, ['MIN', 'COUNT']);
  assert.equal(s.key.k, 'and');
  assert.throws(() => parseSearch(parser('CHARSET KOI8-R ALL')), ImapNo);
  assert.throws(() => parseSearch(parser('SINCE 31-Foo-2000')), ImapSyntaxError);
  assert.throws(() => parseSearch(parser('BOGUS')), ImapSyntaxError);
});
