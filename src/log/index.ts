// log: structured logging, one JSON event per line (pino).
// Owns: the logger factory and the redaction list. Never logs a secret: password, passphrase, key and
// authorization fields are redacted by construction, wherever they appear in an event.
import { pino, type Logger as PinoLogger, type LevelWithSilent } from 'pino';

export type Logger = PinoLogger;
export type LogLevel = LevelWithSilent;

/** Field names whose values never reach a log line, at any depth we log (two levels). */
const SECRET_FIELDS = ['password', 'passphrase', 'newPassword', 'key', 'masterKey', 'secret', 'auth', 'authorization', 'credentials', 'privateKey'];
const REDACT_PATHS = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`]);

export interface LogOptions {
  level?: LogLevel;
  /** File descriptor or path; default stderr so that stdout stays free for command output. */
  destination?: number | string;
  pretty?: boolean;
}

export function createLogger(options: LogOptions = {}): Logger {
  const destination = pino.destination({ dest: options.destination ?? 2, sync: true });
  return pino(
    {
      level: options.level ?? (process.env['MAILSTACK_LOG_LEVEL'] as LogLevel | undefined) ?? 'info',
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** A logger that drops everything: for tests and commands that must print nothing. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

let counter = 0;
/** Short ids like Postfix queue ids, so one session's or message's path can be followed with grep. */
export function newId(prefix = ''): string {
  counter = (counter + 1) % 0x10000;
  return prefix + Date.now().toString(36).toUpperCase() + counter.toString(16).toUpperCase().padStart(4, '0');
}
