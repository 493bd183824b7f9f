// A line-level SMTP/LMTP client for protocol tests: send a command, get the reply (code, enhanced code,
// text lines) as the server sent it. Plain TCP, unix sockets, STARTTLS and implicit TLS.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export interface Reply {
  code: number;
  /** RFC 3463 code of the last line, or null. */
  enhanced: string | null;
  lines: string[];
  text: string;
}

export class SmtpClient {
  private buffer = '';
  private waiters: ((line: string) => void)[] = [];
  private lines: string[] = [];
  private closed = false;

  private constructor(private socket: Socket | TLSSocket) {
    this.attach(socket);
  }

  private attach(socket: Socket | TLSSocket): void {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buffer += d;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl).replace(/\r$/, '');
        this.buffer = this.buffer.slice(nl + 1);
        const w = this.waiters.shift();
        if (w) w(line);
        else this.lines.push(line);
      }
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w('');
    });
    socket.on('error', () => undefined);
  }

  static async connect(target: { host: string; port: number } | { path: string }, options: { tls?: boolean } = {}): Promise<SmtpClient> {
    const socket = await new Promise<Socket | TLSSocket>((resolve, reject) => {
      if ('path' in target) {
        const s = netConnect(target.path, () => resolve(s));
        s.once('error', reject);
      } else if (options.tls) {
        const s = tlsConnect({ host: target.host, port: target.port, rejectUnauthorized: false }, () => resolve(s));
        s.once('error', reject);
      } else {
        const s = netConnect(target.port, target.host, () => resolve(s));
        s.once('error', reject);
      }
    });
    return new SmtpClient(socket);
  }

  private nextLine(): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.closed) return Promise.resolve('');
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Reads one (possibly multi-line) reply. */
  async reply(): Promise<Reply> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.nextLine();
      if (line === '') return { code: 0, enhanced: null, lines, text: lines.join('\n') };
      lines.push(line);
      if (line[3] !== '-') break;
    }
    const last = lines[lines.length - 1]!;
    const code = Number(last.slice(0, 3));
    const m = /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3}) /.exec(last);
    return { code, enhanced: m?.[1] ?? null, lines, text: lines.map((l) => l.slice(4)).join('\n') };
  }

  write(data: string): void {
    this.socket.write(data);
  }

  async send(command: string): Promise<Reply> {
    this.socket.write(command + '\r\n');
    return this.reply();
  }

  /** Sends DATA and the message; returns the final reply (or, for LMTP, the first of the per-recipient ones). */
  async data(message: string): Promise<Reply> {
    const go = await this.send('DATA');
    if (go.code !== 354) return go;
    const body = message.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
    this.socket.write(body + (body.endsWith('\r\n') ? '' : '\r\n') + '.\r\n');
    return this.reply();
  }

  async starttls(): Promise<Reply> {
    const r = await this.send('STARTTLS');
    if (r.code !== 220) return r;
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    const secure = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ socket: plain, rejectUnauthorized: false }, () => resolve(s));
      s.once('error', reject);
    });
    this.socket = secure;
    this.buffer = '';
    this.attach(secure);
    return r;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async quit(): Promise<void> {
    if (!this.closed) {
      this.socket.write('QUIT\r\n');
      await this.reply();
    }
    this.socket.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
