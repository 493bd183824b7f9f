// One IMAP session: the state machine of RFC 9051 3, command dispatch, and the mapping of errors to
// replies (the one place where ImapSyntaxError -> BAD, ImapNo -> NO [CODE], ImapBye -> BYE happen).
// Handlers never touch the socket: they call session.send(); the transport (connection.ts) owns bytes.
import type { Config } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import { systemClock, waitUntilDeadline, type Clock, type Runtime } from '../runtime/index.ts';
import { StoreError, type Store, type User } from '../store/types.ts';
import type { Command, SessionState } from './command.ts';
import { COMMANDS } from './commands/index.ts';
import { toBuffer, type Chunk } from './encoder.ts';
import { ImapBye, ImapNo, ImapSyntaxError } from './errors.ts';
import type { CommandFrame } from './parser/frame.ts';
import { CommandParser } from './parser/tokens.ts';
import type { SelectedMailbox, FlushOptions } from './selected.ts';
import { formatFlags } from './flags.ts';
import { verifyLogin, type Authenticate } from './auth.ts';

export type InputItem =
  | { kind: 'frame'; frame: CommandFrame }
  | { kind: 'reject'; tag: string; status: 'BAD' | 'NO'; code: string | null; text: string; close: boolean };

/** The connection as the session sees it. */
export interface Transport {
  readonly secure: boolean;
  readonly compressed: boolean;
  readonly remoteAddress: string;
  readonly listener: string;
  /** Queues one response (buffered until flush()). */
  write(data: Buffer): void;
  /** Sends what is buffered (with COMPRESS: one deflate sync flush). */
  flush(): void;
  /** Resolves when the socket's send buffer is below its high-water mark. */
  drained(): Promise<void>;
  /** Upgrades to TLS after the tagged OK has been flushed; discards any input pipelined after STARTTLS. */
  startTls(): Promise<void>;
  startCompression(): void;
  /** Login succeeded: larger literals (APPEND) are acceptable from now on. */
  setAuthenticated(): void;
  /** The next command (or rejected command) from the client; null when the connection is gone. */
  nextInput(): Promise<InputItem | null>;
  setIdleTimeout(ms: number): void;
  close(): void;
}

export type Extension = 'CONDSTORE' | 'QRESYNC' | 'UTF8=ACCEPT' | 'IMAP4REV2';

/** Programming errors seen on live sessions (tests assert this stays 0). */
export const sessionBugs = { count: 0 };

/** Flush output when this much is buffered, so a large FETCH streams instead of piling up. */
const OUTPUT_FLUSH_BYTES = 64 * 1024;

export class Session {
  state: SessionState = 'notauth';
  user: User | null = null;
  selected: SelectedMailbox | null = null;
  readonly enabled = new Set<Extension>();
  /** RFC 5182 SEARCHRES: the saved result, as UIDs. */
  savedSearch: number[] = [];
  private failedLogins = 0;
  private buffered = 0;
  readonly log: Logger;

  constructor(
    readonly runtime: Runtime,
    readonly transport: Transport,
    readonly id: string,
    /** How logins are checked (default: the accounts service). */
    readonly authenticate: Authenticate = verifyLogin,
  ) {
    this.log = runtime.log.child({ session: id, remote: transport.remoteAddress, listener: transport.listener });
  }

  get clock(): Clock {
    return this.runtime.clock ?? systemClock;
  }

  get config(): Config {
    return this.runtime.config;
  }

  /** The store; a locked vault ends the session (BYE [UNAVAILABLE]). */
  get store(): Store {
    const store = this.runtime.store();
    if (!store) throw new ImapBye('Server is locked; try again later', 'UNAVAILABLE');
    return store;
  }

  get utf8(): boolean {
    return this.enabled.has('UTF8=ACCEPT');
  }

  get condstore(): boolean {
    return this.enabled.has('CONDSTORE') || this.enabled.has('QRESYNC');
  }

  requireUser(): User {
    if (!this.user) throw new ImapBye('Not authenticated');
    return this.user;
  }

  requireSelected(): SelectedMailbox {
    if (!this.selected) throw new ImapNo(null, 'No mailbox selected');
    return this.selected;
  }

  /** Sends an untagged (or continuation) response. */
  send(chunks: Chunk[] | string): void {
    const data = typeof chunks === 'string' ? Buffer.from(chunks + '\r\n') : toBuffer([...chunks, '\r\n']);
    this.transport.write(data);
    this.buffered += data.length;
    if (this.buffered >= OUTPUT_FLUSH_BYTES) this.flushOutput();
  }

  flushOutput(): void {
    this.buffered = 0;
    this.transport.flush();
  }

  /** Lets the socket drain during long responses (never while holding anything that blocks others). */
  async backpressure(): Promise<void> {
    if (this.buffered >= OUTPUT_FLUSH_BYTES) this.flushOutput();
    await this.transport.drained();
  }

  flagList(flags: readonly string[]): string {
    return formatFlags(flags);
  }

  flushOptions(allowExpunge: boolean): FlushOptions {
    return {
      allowExpunge,
      vanished: this.enabled.has('QRESYNC'),
      condstore: this.condstore,
      flagList: (f) => this.flagList(f),
    };
  }

  /** Reports pending mailbox changes where the RFC allows it. */
  reportUpdates(allowExpunge: boolean): void {
    const sel = this.selected;
    if (!sel) return;
    for (const r of sel.flush(this.flushOptions(allowExpunge))) this.send(r);
    if (sel.deleted) throw new ImapBye('The selected mailbox was deleted by another session');
  }

  capabilities(): string[] {
    const caps = ['IMAP4rev1', 'IMAP4rev2', 'LITERAL+', 'ID', 'ENABLE', 'IDLE', 'NAMESPACE', 'UNSELECT'];
    if (!this.transport.secure) {
      caps.push('STARTTLS', 'LOGINDISABLED');
    } else if (this.state === 'notauth') {
      caps.push('AUTH=PLAIN', 'SASL-IR');
    }
    if (this.state !== 'notauth') {
      caps.push(
        'UIDPLUS', 'MOVE', 'CONDSTORE', 'QRESYNC', 'ESEARCH', 'SEARCHRES', 'SPECIAL-USE', 'CREATE-SPECIAL-USE',
        'LIST-EXTENDED', 'LIST-STATUS', 'CHILDREN', 'QUOTA', 'QUOTA=RES-STORAGE', 'STATUS=SIZE',
        'SORT', 'THREAD=REFERENCES', 'THREAD=ORDEREDSUBJECT', 'BINARY', 'UTF8=ACCEPT',
        `APPENDLIMIT=${this.config.store.max_message_bytes}`,
      );
      if (!this.transport.compressed) caps.push('COMPRESS=DEFLATE');
    }
    return caps;
  }

  /** Runs the session until LOGOUT, BYE or the connection ends. */
  async run(): Promise<void> {
    if (!this.runtime.store()) {
      // DESIGN: while the vault is locked, clients get a temporary failure and retry later.
      this.send('* BYE [UNAVAILABLE] Server is locked; try again later');
      this.flushOutput();
      this.transport.close();
      return;
    }
    this.transport.setIdleTimeout(this.config.imap.idle_timeout_preauth_ms);
    this.send(`* OK [CAPABILITY ${this.capabilities().join(' ')}] mailstack IMAP ready`);
    this.flushOutput();
    try {
      while (this.state !== 'logout') {
        const item = await this.transport.nextInput();
        if (!item) break;
        if (item.kind === 'reject') {
          this.send(`${item.tag} ${item.status} ${item.code ? `[${item.code}] ` : ''}${item.text}`);
          this.flushOutput();
          if (item.close) {
            this.state = 'logout';
            this.send('* BYE Closing after an oversized literal');
            this.flushOutput();
          }
          continue;
        }
        await this.execute(item.frame);
        this.flushOutput();
      }
    } finally {
      this.selected?.close();
      this.selected = null;
      this.transport.close();
    }
  }

  private async execute(frame: CommandFrame): Promise<void> {
    const started = Date.now();
    // What is known so far about the command, for the error reply and the log line.
    const current: { tag: string; command: Command | undefined } = { tag: '*', command: undefined };
    try {
      await this.dispatch(new CommandParser(frame), current);
    } catch (err) {
      this.replyError(current.tag, current.command, err);
    }
    // One line per command at debug level: name and time, never arguments (they may hold a password).
    this.log.debug({ command: current.command?.name ?? null, ms: Date.now() - started }, 'command');
  }

  private async dispatch(p: CommandParser, current: { tag: string; command: Command | undefined }): Promise<void> {
    const tag = (current.tag = p.tag());
    p.sp();
    let name = p.atom().toUpperCase();
    if (name === 'UID') {
      p.sp();
      name = 'UID ' + p.atom().toUpperCase();
    }
    const command = (current.command = COMMANDS.get(name));
    if (!command) throw new ImapSyntaxError(`Unknown command ${name.slice(0, 40)}`);
    if (!command.states.includes(this.state)) throw new ImapSyntaxError(stateError(command.name, this.state));
    const args = command.parse(p, this);
    const done = await command.run(this, args, tag);
    if (done && done.tagged) return;
    if (this.state === 'logout') {
      this.send(`${tag} OK ${command.name} completed`);
      return;
    }
    this.reportUpdates(command.allowExpungeAfter !== false);
    const code = done && done.code ? `[${done.code}] ` : '';
    this.send(`${tag} OK ${code}${(done && done.text) ?? `${command.name} completed`}`);
  }

  private replyError(tag: string, command: Command | undefined, err: unknown): void {
    if (err instanceof ImapSyntaxError) {
      this.send(`${tag} BAD ${err.code ? `[${err.code}] ` : ''}${oneLine(err.message)}`);
      return;
    }
    if (err instanceof ImapNo) {
      this.safeReport(command);
      const code = err.code ? `[${err.code}${err.codeArgs ? ' ' + err.codeArgs : ''}] ` : '';
      this.send(`${tag} NO ${code}${oneLine(err.message)}`);
      return;
    }
    if (err instanceof StoreError) {
      this.safeReport(command);
      this.send(`${tag} NO [${storeCode(err)}] ${oneLine(err.message)}`);
      if (err.code === 'corrupt') this.log.error({ err: err.message }, 'store reported corruption');
      else if (err.code === 'no_space') this.log.warn({ err: err.message }, 'the file system holding the store is full');
      else this.log.debug({ err: err.message, code: err.code }, 'store refused');
      return;
    }
    if (err instanceof ImapBye) {
      this.send(`* BYE ${err.code ? `[${err.code}] ` : ''}${oneLine(err.message)}`);
      this.state = 'logout';
      return;
    }
    sessionBugs.count++;
    this.log.error({ err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err), command: command?.name }, 'internal error in IMAP command');
    this.send(`* BYE [SERVERBUG] Internal error (session ${this.id}); closing`);
    this.state = 'logout';
  }

  private safeReport(command: Command | undefined): void {
    try {
      this.reportUpdates(command?.allowExpungeAfter !== false);
    } catch {
      // The failure reply is more useful than a BYE here; the next command will report the deletion.
    }
  }

  /**
   * Call after a failed login: emits the event, answers at the growing delay after `attemptStartedAt` (a
   * clock.now() taken before the password was checked, so the check's duration does not show), closes
   * after too many.
   */
  async loginFailed(account: string, attemptStartedAt: number): Promise<void> {
    this.failedLogins++;
    const cfg = this.config.imap;
    this.runtime.events.emit('auth-failure', { protocol: 'imap', listener: this.transport.listener, remoteAddress: this.transport.remoteAddress, account });
    this.log.info({ account, failures: this.failedLogins }, 'login failed');
    const own = Math.min(cfg.login_failure_delay_ms * 2 ** (this.failedLogins - 1), cfg.login_failure_max_delay_ms);
    const delay = own + this.runtime.guard.loginDelayMs(this.transport.remoteAddress, account);
    await waitUntilDeadline(this.clock, attemptStartedAt, delay);
    if (this.failedLogins >= cfg.max_login_failures) throw new ImapBye('Too many failed logins', 'AUTHENTICATIONFAILED');
  }

  loggedIn(user: User, account: string): void {
    this.user = user;
    this.state = 'auth';
    this.transport.setAuthenticated();
    this.transport.setIdleTimeout(this.config.imap.idle_timeout_ms);
    this.runtime.events.emit('auth-success', { protocol: 'imap', listener: this.transport.listener, remoteAddress: this.transport.remoteAddress, account });
    this.log.info({ account }, 'logged in');
  }

  /** Leaves the selected state (CLOSE, UNSELECT, a new SELECT). */
  deselect(): void {
    this.selected?.close();
    this.selected = null;
    if (this.state === 'selected') this.state = 'auth';
  }
}

function stateError(name: string, state: SessionState): string {
  switch (state) {
    case 'notauth':
      return `${name} is not allowed before login`;
    case 'auth':
      return `${name} needs a selected mailbox`;
    default:
      return `${name} is not allowed ${state === 'selected' ? 'after login' : 'now'}`;
  }
}

function storeCode(err: StoreError): string {
  switch (err.code) {
    case 'not_found':
      return 'NONEXISTENT';
    case 'exists':
      return 'ALREADYEXISTS';
    case 'in_use':
      return 'INUSE';
    case 'invalid':
      return 'CANNOT';
    case 'over_quota':
    // A full disk: Dovecot answers the same ("NO [OVERQUOTA] Not enough disk space"), so clients that act on the
    // code (stop retrying the APPEND, tell the user) behave as they did there; the text says which it is.
    case 'no_space':
      return 'OVERQUOTA';
    case 'corrupt':
      return 'SERVERBUG';
    case 'locked':
    case 'unavailable':
      return 'UNAVAILABLE';
  }
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ').slice(0, 300);
}
