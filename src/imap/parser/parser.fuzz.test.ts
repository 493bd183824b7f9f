// A bounded fuzz run of the command parser (scripts/fuzz-imap.ts runs longer): random and mutated
// command lines, chunked at random, must only ever produce the parser's own errors, never hang, and never
// make the framer hold more than its limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzz } from '../../../test/imap/fuzz-lib.ts';

test('parser fuzz (bounded run)', () => {
  const seed = Number(process.env['FUZZ_SEED'] ?? Date.now() % 1_000_000);
  const heapBefore = process.memoryUsage().heapUsed;
  const stats = fuzz(3000, seed);
  assert.ok(stats.inputs > 1000, `only ${stats.inputs} inputs in 3 s (seed ${seed})`);
  assert.ok(stats.parsed > 0 && stats.syntaxErrors > 0, JSON.stringify(stats));
  const growth = process.memoryUsage().heapUsed - heapBefore;
  assert.ok(growth < 200 * 1024 * 1024, `heap grew by ${growth} bytes`);
});
