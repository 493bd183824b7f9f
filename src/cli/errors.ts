/** sysexits.h codes: mail tools (Dovecot's LDA, Postfix's pipe) read them. */
export const EX = {
  OK: 0,
  USAGE: 64,
  DATAERR: 65,
  NOINPUT: 66,
  NOUSER: 67,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  CANTCREAT: 73,
  IOERR: 74,
  TEMPFAIL: 75,
  NOPERM: 77,
  CONFIG: 78,
} as const;

/** An error for the person at the terminal: printed as "mailstack: message", exit with exitCode. */
export class CliError extends Error {
  readonly code = 'CLI';
  constructor(
    message: string,
    readonly exitCode: number = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
