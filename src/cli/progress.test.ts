import { test } from 'node:test';
import assert from 'node:assert/strict';
import { progressBar } from './progress.ts';

function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; written: () => string } {
  let text = '';
  const stream = { isTTY, write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
  return { stream, written: () => text };
}

test('draws a bar on a terminal and ends the line', () => {
  const { stream, written } = fakeStream(true);
  const bar = progressBar('importing', stream);
  bar.update(0, 4);
  bar.update(4, 4);
  bar.done();
  assert.match(written(), /^\rimporting \[\.{30}\] 0\/4 0%/);
  assert.match(written(), /\rimporting \[#{30}\] 4\/4 100%\n$/);
});

test('writes nothing when the output is not a terminal', () => {
  const { stream, written } = fakeStream(false);
  const bar = progressBar('importing', stream);
  bar.update(1, 2);
  bar.done();
  assert.equal(written(), '');
});
