// What a CLI command works with: the config, and the store either through the running server's admin
// socket or opened directly on the data directory (asking for the passphrase) when no server runs.
import type { Config } from '../config/index.ts';
import type { Store } from '../store/types.ts';

export interface CommandOptions {
  config?: string;
  passphraseFile?: string;
}

/** Calls into the running server beyond the store (reload GeoIP, flush the queue, close banned sessions). */
export interface ServerControl {
  call(method: string, params?: unknown): Promise<unknown>;
}

export interface CommandContext {
  config: Config;
  configFile: string;
  /** The store: a proxy over the admin socket when the server runs, the data directory otherwise. */
  store: Store;
  /** The running server, or null when the command opened the data directory itself. */
  server: ServerControl | null;
  close(): Promise<void>;
}

export { openContext, withContext } from './open-context.ts';
