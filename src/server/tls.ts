import { readFile, mkdir, access } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';

const run = promisify(execFile);

export interface TlsFiles {
  key: Buffer;
  cert: Buffer;
  selfSigned: boolean;
  certFile: string;
}

/** Host names are passed to openssl as an argument: allow only what a DNS name may contain. */
const HOSTNAME = /^[A-Za-z0-9.-]{1,253}$/;

/** Loads the configured certificate, or makes (once) a self-signed one for the server's host name. */
export async function loadTls(config: Config): Promise<TlsFiles> {
  if (config.tls.cert && config.tls.key) {
    const [cert, key] = await Promise.all([readFile(config.tls.cert), readFile(config.tls.key)]).catch((err: Error) => {
      throw Object.assign(new Error(`cannot read the TLS certificate or key (tls.cert / tls.key): ${err.message}`), { code: 'TLS' });
    });
    return { cert, key, selfSigned: false, certFile: config.tls.cert };
  }
  if (!config.tls.self_signed) {
    throw Object.assign(new Error('no TLS certificate: set tls.cert and tls.key, or tls.self_signed = true'), { code: 'TLS' });
  }
  const dir = join(config.server.data_dir, 'tls');
  const keyFile = join(dir, 'self-signed.key');
  const certFile = join(dir, 'self-signed.crt');
  const exists = await access(certFile).then(
    () => true,
    () => false,
  );
  if (!exists) await makeSelfSigned(config.server.hostname, dir, keyFile, certFile);
  return { key: await readFile(keyFile), cert: await readFile(certFile), selfSigned: true, certFile };
}

export async function makeSelfSigned(hostname: string, dir: string, keyFile: string, certFile: string): Promise<void> {
  const name = HOSTNAME.test(hostname) ? hostname : 'localhost';
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '825',
    '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name},DNS:localhost,IP:127.0.0.1,IP:::1`,
    '-keyout', keyFile, '-out', certFile,
  ]);
}
