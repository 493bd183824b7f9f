import type { VaultError } from '../vault/index.ts';

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

/** The exit status for a vault that would not open: a wrong passphrase is a permission problem, a vault
 * that is not where the config says is a config problem, a damaged one is bad data. */
export function exitCodeForVault(err: VaultError): number {
  if (err.code === 'wrong_passphrase') return EX.NOPERM;
  if (err.code === 'damaged') return EX.DATAERR;
  return EX.CONFIG;
}
