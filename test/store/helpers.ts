// Test helpers for the embedded store: a fresh data directory and key per test.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openStore, type Store } from '../../src/store/index.ts';
import type { StoreHarness } from './conformance-suite.ts';

export async function tempDir(prefix = 'mailstack-store-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function makeSqliteStore(): Promise<StoreHarness> {
  const dir = await tempDir();
  const key = randomBytes(32);
  let current: Store | null = await openStore({ dir, key });
  const harness: StoreHarness = {
    store: current,
    async reopen() {
      await current?.close();
      current = null;
      current = await openStore({ dir, key });
      harness.store = current;
      return current;
    },
    async cleanup() {
      await current?.close();
      current = null;
      await rm(dir, { recursive: true, force: true });
    },
  };
  return harness;
}
