// The command table: name -> module. Dispatch checks the state listed here before parsing arguments.
import type { Command } from '../command.ts';
import { capability, id, logout, noop } from './any.ts';
import { append } from './append.ts';
import { compress } from './compress.ts';
import { copy, move, uidCopy, uidMove } from './copy.ts';
import { fetch, uidFetch } from './fetch.ts';
import { idle } from './idle.ts';
import { list, lsub } from './list.ts';
import { authenticate, login, starttls } from './login.ts';
import { create, del, enable, namespace, rename, subscribe, unsubscribe } from './mailboxes.ts';
import { getquota, getquotaroot, setquota } from './quota.ts';
import { search, uidSearch } from './search.ts';
import { check, close, examine, expunge, select, uidExpunge, unselect } from './select.ts';
import { sort, thread, uidSort, uidThread } from './sort.ts';
import { status } from './status.ts';
import { store, uidStore } from './store.ts';

const ALL: Command[] = [
  capability, noop, logout, id,
  starttls, login, authenticate,
  create, del, rename, subscribe, unsubscribe, namespace, enable, list, lsub, status, append, idle, compress,
  getquota, getquotaroot, setquota,
  select, examine, close, unselect, check, expunge, uidExpunge,
  fetch, uidFetch, store, uidStore, search, uidSearch, copy, uidCopy, move, uidMove,
  sort, uidSort, thread, uidThread,
];

export const COMMANDS: ReadonlyMap<string, Command> = new Map(ALL.map((c) => [c.name, c]));
