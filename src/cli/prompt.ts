// Reading secrets: from a file, from standard input, or from the terminal with echo off. Never from argv,
// where every user of the machine can read them in the process list.
import { readFile } from 'node:fs/promises';
import { CliError, EX } from './errors.ts';

/** Reads a secret from the controlling terminal without echoing it. */
export async function promptSecret(question: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) {
    throw new CliError(`${question.replace(/:\s*$/, '')}: no terminal to ask on; give the vault passphrase with --passphrase-file FILE, or a user's password with --password-stdin`, EX.USAGE);
  }
  // Echo off before the question appears: an answer typed (or pasted) as soon as the prompt shows
  // must not be echoed by the terminal.
  input.setRawMode(true);
  process.stderr.write(question);
  input.resume();
  input.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let value = '';
    const done = (err?: Error) => {
      input.setRawMode(false);
      input.pause();
      input.removeListener('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new CliError('interrupted', 130));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    input.on('data', onData);
  });
}

/** Asks twice and insists the answers match (for new passphrases and passwords). */
export async function promptNewSecret(what: string): Promise<string> {
  const first = await promptSecret(`New ${what}: `);
  const second = await promptSecret(`Repeat the ${what}: `);
  if (first !== second) throw new CliError(`the two ${what}s differ: nothing was changed`, EX.USAGE);
  return first;
}

/** The first line of a file, without its line ending (a trailing newline is not part of the secret). */
export async function readSecretFile(path: string, what = 'passphrase'): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read the ${what} file ${path}: ${(err as Error).message}`, EX.NOINPUT);
  }
  const line = text.split(/\r?\n/)[0] ?? '';
  if (!line) throw new CliError(`the ${what} file ${path} is empty`, EX.DATAERR);
  return line;
}

/** All of standard input, first line only (for --password-stdin). */
export async function readSecretStdin(what = 'password'): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const line = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  if (!line) throw new CliError(`no ${what} on standard input`, EX.DATAERR);
  return line;
}

export async function readPassphrase(file: string | undefined): Promise<string> {
  return file ? readSecretFile(file) : promptSecret('Vault passphrase: ');
}
