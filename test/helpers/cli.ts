// Runs the real `mailstack` CLI in a child process, as a user would.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtemp, writeFile, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(REPO, 'bin', 'mailstack.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], options: { input?: string | Buffer; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? REPO,
      env: { ...process.env, MAILSTACK_CONFIG: '', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** Starts `mailstack serve` and resolves once it logged that it started (or rejects if it exits first). */
export function startServe(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; stderr: () => string; stop(): Promise<number | null> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', ...args], {
      cwd: REPO,
      env: { ...process.env, MAILSTACK_CONFIG: '', MAILSTACK_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let started = false;
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!started && /"event":"started"/.test(stderr)) {
        started = true;
        resolve({
          child,
          stderr: () => stderr,
          stop: async () => {
            if (child.exitCode === null) child.kill('SIGTERM');
            return exited;
          },
        });
      }
    });
    child.on('exit', (code) => {
      if (!started) reject(new Error(`mailstack serve exited with ${code} before starting:\n${stderr}`));
    });
  });
}

/** A fresh instance made by `mailstack init`, with every listener moved to 127.0.0.1 port 0. */
export async function makeInstance(passphrase = 'correct horse battery staple'): Promise<{ dir: string; config: string; passphraseFile: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'mailstack-cli-'));
  const passphraseFile = join(dir, 'passphrase');
  await writeFile(passphraseFile, passphrase + '\n', { mode: 0o600 });
  const r = await runCli(['init', '--dir', join(dir, 'inst'), '--passphrase-file', passphraseFile, '--kdf-n', '1024', '--hostname', 'mx.example.test']);
  if (r.code !== 0) throw new Error(`init failed (${r.code}): ${r.stderr}`);
  const config = join(dir, 'inst', 'mailstack.toml');
  const text = await readFile(config, 'utf8');
  await writeFile(config, text.replace(/"0\.0\.0\.0:\d+"/g, '"127.0.0.1:0"'));
  return { dir, config, passphraseFile, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
