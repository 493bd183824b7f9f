// The shape of one IMAP command module: what it is called, the states it is legal in, a parser that pulls
// exactly what the grammar says, and a handler. Dispatch (session.ts) checks the state before parsing.
import type { CommandParser } from './parser/tokens.ts';
import type { Session } from './session.ts';

/** RFC 9051 3: not authenticated, authenticated, selected, logout. */
export type SessionState = 'notauth' | 'auth' | 'selected' | 'logout';

export const ANY: readonly SessionState[] = ['notauth', 'auth', 'selected'];
export const AUTHED: readonly SessionState[] = ['auth', 'selected'];
export const SELECTED: readonly SessionState[] = ['selected'];
export const NOTAUTH: readonly SessionState[] = ['notauth'];

/** What the tagged OK says; nothing means a plain "OK <NAME> completed". */
export interface Completion {
  code?: string;
  text?: string;
  /** The handler already sent its tagged reply (STARTTLS, COMPRESS: the reply precedes the switch). */
  tagged?: boolean;
}

export interface Command<A = unknown> {
  name: string;
  states: readonly SessionState[];
  /** RFC 9051 7.4.1: may EXPUNGE responses be sent at the end of this command? Not for FETCH, STORE,
   * SEARCH (and COPY/MOVE, SORT, THREAD) by sequence number. Default true. */
  allowExpungeAfter?: boolean;
  parse(p: CommandParser, session: Session): A;
  run(session: Session, args: A, tag: string): Promise<Completion | void>;
}

/** Helps TypeScript keep each command's argument type while they sit in one table. */
export function defineCommand<A>(command: Command<A>): Command<unknown> {
  return command as Command<unknown>;
}
