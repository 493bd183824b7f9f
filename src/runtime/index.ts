// runtime: what the composition root (src/server) hands to every listener and service.
// Owns: the shared types that let listeners and services talk to each other without importing one another:
// the lock state (is the store open?), the security-event bus (failed logins feed access control), and
// the connection guard (access control's hook at accept time), the clock failed logins are delayed by.
// Types, a tiny event bus and a timer only; no I/O.
import { EventEmitter } from 'node:events';
import type { SecureContextOptions } from 'node:tls';
import type { Socket } from 'node:net';
import type { Config } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import type { Store } from '../store/types.ts';
import type { Clock } from './clock.ts';

export { systemClock, waitUntilDeadline, type Clock } from './clock.ts';

export type Protocol = 'smtp' | 'submission' | 'lmtp' | 'imap' | 'managesieve' | 'webmail' | 'admin';

export interface AuthEvent {
  protocol: Protocol;
  /** The listener's name from the config, e.g. "imap" or "submission_tls". */
  listener: string;
  remoteAddress: string;
  /** The login name the client gave (never the password). */
  account: string;
}

export interface SecurityEvents {
  'auth-failure': [AuthEvent];
  'auth-success': [AuthEvent];
}

export class SecurityEventBus extends EventEmitter<SecurityEvents> {}

/** Access control's decision at accept time, before a byte is read or written. */
export interface ConnectionGuard {
  /** Returns false when the connection must be closed at once. Tracks the socket until it closes so
   * that a ban can close every open connection of a source ("flush global"). */
  admit(listener: string, socket: Socket): boolean;
  /** Extra delay (ms) before answering a login attempt for this account/source: slows attacks on an
   * account without locking its owner out. */
  loginDelayMs(remoteAddress: string, account: string): number;
}

/** A guard that admits everyone: used when access control is not configured (and in unit tests). */
export const openGuard: ConnectionGuard = {
  admit: () => true,
  loginDelayMs: () => 0,
};

export interface Runtime {
  config: Config;
  log: Logger;
  /** The open store, or null while the vault is locked: listeners answer with temporary failures then. */
  store(): Store | null;
  /** TLS key and certificate for every listener. */
  tls: SecureContextOptions & { key: string | Buffer; cert: string | Buffer };
  events: SecurityEventBus;
  guard: ConnectionGuard;
  /** Times the failed-login delay (default: systemClock; tests inject one that records instead of sleeping). */
  clock?: Clock;
}
