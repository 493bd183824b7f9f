// A minimal raw IMAP client for the differential suite: sends tagged commands and returns the untagged
// responses verbatim (literals included), so answers are compared byte for byte after parsing, not after a
// client library's interpretation. Also an IMAP value parser (lists, strings, literals, atoms, NIL).
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export type ImapValue = string | null | ImapValue[] | { atom: string } | Buffer;

export interface Tagged {
  status: string;
  text: string;
  /** Untagged responses, each with its literals inline ("{n}\r\n" + bytes). */
  untagged: Buffer[];
}

export class RawImapClient {
  private buf: Buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  private tagNo = 0;
  private closed = false;
  /** Complete responses not yet read. Split off as data arrives, so `buf` only ever holds an incomplete tail
   *  and a long FETCH answer costs linear time on the client side. */
  private queue: Buffer[] = [];
  private queueHead = 0;
  /** Offset in `buf` from which to look for the next line end (after a literal). */
  private scanFrom = 0;

  private readonly onData = (chunk: Buffer): void => {
    const buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    // Lines are cut at offsets into `buf`; the unread tail is sliced off once per chunk, not once per line.
    let start = 0;
    let scan = this.scanFrom;
    for (;;) {
      const nl = buf.indexOf('\r\n', scan);
      if (nl < 0) break;
      // Only a line ending in '}' can announce a literal: the others (nearly all) skip the decode and regex.
      const m = nl > start && buf[nl - 1] === 0x7d ? /\{(\d+)\+?\}$/.exec(buf.toString('latin1', Math.max(start, nl - 24), nl)) : null;
      if (m) {
        const need = nl + 2 + Number(m[1]);
        if (buf.length < need) {
          scan = nl;
          break;
        }
        scan = need;
        continue;
      }
      // A view, not a copy: `buf` is never written after it was received (a new tail is a new Buffer).
      this.queue.push(buf.subarray(start, nl));
      start = nl + 2;
      scan = start;
    }
    this.buf = start === 0 ? buf : buf.subarray(start);
    this.scanFrom = scan - start;
    this.wake();
  };

  private constructor(private socket: Socket) {
    this.attach(socket);
  }

  private attach(socket: Socket): void {
    socket.on('data', this.onData);
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  /** RFC 9051 6.2.1 STARTTLS, verifying the server against `ca`. */
  async startTls(ca: Buffer, servername = 'localhost'): Promise<void> {
    await this.ok('STARTTLS');
    this.socket.off('data', this.onData);
    const secure = tlsConnect({ socket: this.socket, ca, servername });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    this.socket = secure;
    this.attach(secure);
  }

  /** Sends raw bytes (for commands this client does not model, e.g. IDLE's DONE). */
  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Sends a tagged command and returns the tag, without waiting (IDLE). */
  send(command: string): string {
    const tag = `T${++this.tagNo}`;
    this.socket.write(`${tag} ${command}\r\n`);
    return tag;
  }

  static async open(host: string, port: number): Promise<RawImapClient> {
    const socket = connect(port, host);
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const c = new RawImapClient(socket);
    await c.readResponse(); // greeting
    return c;
  }

  /** Implicit TLS (RFC 8314), verifying the server against `ca` (the test's self-signed certificate). */
  static async openTls(host: string, port: number, ca: Buffer, servername = 'localhost'): Promise<RawImapClient> {
    const socket = tlsConnect({ host, port, ca, servername });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    const c = new RawImapClient(socket);
    await c.readResponse(); // greeting
    return c;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async more(): Promise<void> {
    if (this.closed) throw new Error('connection closed');
    await new Promise<void>((r) => this.waiters.push(r));
  }

  /** One complete response line with its literals. */
  async readResponse(): Promise<Buffer> {
    while (this.queueHead >= this.queue.length) await this.more();
    const r = this.queue[this.queueHead++]!;
    if (this.queueHead > 1024) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    return r;
  }

  /** Send a command (literals given as Buffers are sent synchronising: wait for "+"). */
  async command(...parts: (string | Buffer)[]): Promise<Tagged> {
    const tag = `T${++this.tagNo}`;
    const untagged: Buffer[] = [];
    // Text is gathered and written with the next literal header or the final CRLF: one write per line, as
    // real clients do (a line split over two writes waits on Nagle + delayed ACK, ~40 ms per command).
    let line = `${tag} `;
    // A literal's octets wait for the text after them, so the two go out in one write.
    let literalBytes: Buffer | null = null;
    const send = (text: string) => {
      this.socket.write(literalBytes ? Buffer.concat([literalBytes, Buffer.from(text, 'utf8')]) : text);
      literalBytes = null;
    };
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (typeof p === 'string') {
        line += p;
      } else {
        send(`${line}{${p.length}}\r\n`);
        line = '';
        for (;;) {
          const r = await this.readResponse();
          if (r[0] === 0x2b) break;
          if (r.toString('latin1').startsWith(tag + ' ')) throw new Error(`literal refused: ${r.toString()}`);
          untagged.push(r);
        }
        literalBytes = p;
      }
    }
    send(line + '\r\n');
    for (;;) {
      // Lines already received are taken without an await each; only an empty queue waits for data.
      while (this.queueHead >= this.queue.length) await this.more();
      const r = this.queue[this.queueHead++]!;
      if (this.queueHead > 1024) {
        this.queue = this.queue.slice(this.queueHead);
        this.queueHead = 0;
      }
      // Untagged lines ("* ...", nearly all of a long answer) are not decoded here.
      if (r[0] !== 0x2a) {
        const s = r.toString('latin1');
        if (s.startsWith(tag + ' ')) {
          const [, status = '', text = ''] = /^\S+ (\S+) ?(.*)$/s.exec(s) ?? [];
          return { status, text, untagged };
        }
      }
      untagged.push(r);
    }
  }

  async ok(...parts: (string | Buffer)[]): Promise<Tagged> {
    const r = await this.command(...parts);
    if (r.status !== 'OK') throw new Error(`${String(parts[0]).trim()}: ${r.status} ${r.text}`);
    return r;
  }

  async close(): Promise<void> {
    if (!this.closed) {
      const done = new Promise<void>((r) => this.socket.once('close', () => r()));
      this.socket.end('Z LOGOUT\r\n');
      await done;
    }
  }
}

/** Parse IMAP data (RFC 9051 9: lists, quoted strings, literals, NIL, atoms/numbers) from `pos`. */
export class ImapParser {
  pos = 0;
  constructor(readonly b: Buffer) {}
  skipSpaces(): void {
    while (this.b[this.pos] === 0x20) this.pos++;
  }
  value(): ImapValue {
    this.skipSpaces();
    const c = this.b[this.pos];
    if (c === 0x28) {
      this.pos++;
      const list: ImapValue[] = [];
      for (;;) {
        this.skipSpaces();
        if (this.pos >= this.b.length) return list;
        if (this.b[this.pos] === 0x29) {
          this.pos++;
          return list;
        }
        const before = this.pos;
        list.push(this.value());
        if (this.pos <= before) return list; // malformed input: never loop without progress
      }
    }
    if (c === 0x22) {
      this.pos++;
      const out: number[] = [];
      while (this.pos < this.b.length && this.b[this.pos] !== 0x22) {
        if (this.b[this.pos] === 0x5c) this.pos++;
        out.push(this.b[this.pos]!);
        this.pos++;
      }
      this.pos++;
      return Buffer.from(out).toString('utf8');
    }
    // RFC 3516 literal8 "~{n}" (BINARY) is read like a literal.
    if (c === 0x7e && this.b[this.pos + 1] === 0x7b) this.pos++;
    if (this.b[this.pos] === 0x7b) {
      const close = this.b.indexOf('}', this.pos);
      if (close < 0) {
        this.pos = this.b.length;
        return null;
      }
      const n = Number(this.b.toString('latin1', this.pos + 1, close).replace('+', ''));
      const start = close + 3;
      this.pos = start + n;
      return this.b.subarray(start, start + n);
    }
    // Atom, number or NIL. A section spec like BODY[1.MIME]<0> is read as one atom including its brackets.
    const start = this.pos;
    let depth = 0;
    while (this.pos < this.b.length) {
      const d = this.b[this.pos]!;
      if (d === 0x5b) depth++;
      else if (d === 0x5d) depth--;
      else if (depth === 0 && (d === 0x20 || d === 0x28 || d === 0x29)) break;
      this.pos++;
    }
    const atom = this.b.toString('latin1', start, this.pos);
    if (atom.toUpperCase() === 'NIL') return null;
    return { atom };
  }
}

/** The attribute map of an untagged FETCH response: "* 1 FETCH (UID 3 BODY[] {5}...)" -> {UID: ..., BODY[]: ...}. */
export function parseFetch(line: Buffer): Map<string, ImapValue> {
  const m = /^\* \d+ FETCH /i.exec(line.toString('latin1', 0, 40));
  if (!m) throw new Error(`not a FETCH response: ${line.toString('latin1', 0, 80)}`);
  const p = new ImapParser(line);
  p.pos = m[0].length;
  const list = p.value();
  const out = new Map<string, ImapValue>();
  if (!Array.isArray(list)) return out;
  for (let i = 0; i + 1 < list.length; i += 2) {
    const k = list[i];
    const key = k && typeof k === 'object' && 'atom' in k ? k.atom.toUpperCase() : String(k);
    out.set(key, list[i + 1]!);
  }
  return out;
}
