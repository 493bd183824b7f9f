// Access control in front of the real IMAP server: clients connect over TLS from chosen loopback addresses
// that the GeoLite2 fixture maps to countries; failed logins come from the IMAP session's own events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type TLSSocket } from 'node:tls';
import { connect as netConnect } from 'node:net';
import { startHarness, PASSWORD, type Harness } from '../imap/harness.ts';
import { accessConfig, importFixture } from './harness.ts';
import { createAccessControl, type AccessControl } from '../../src/access/index.ts';
import { silentLogger } from '../../src/log/index.ts';

const POLICY = `
[access]
exempt_loopback = false
client_countries = ["DE", "AT"]
source_delay_ms = 0
`;

/** A line client on the implicit-TLS port, from a chosen source address. */
class Client {
  private buffer = '';
  private waiters: (() => void)[] = [];
  readonly closed: Promise<void>;
  private constructor(readonly socket: TLSSocket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buffer += d;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => {});
    this.closed = new Promise((r) => socket.once('close', () => {
      for (const w of this.waiters.splice(0)) w();
      r();
    }));
  }

  static open(port: number, from: string): Promise<Client> {
    return new Promise((resolve) => {
      // Bind the TCP socket to the source address, then run TLS over it.
      const tcp = netConnect({ host: '127.0.0.1', port, localAddress: from });
      tcp.on('error', () => {});
      const socket = connect({ socket: tcp, rejectUnauthorized: false });
      resolve(new Client(socket));
    });
  }

  /** The next line, or null when the server closed the connection first. */
  async line(): Promise<string | null> {
    for (;;) {
      const i = this.buffer.indexOf('\r\n');
      if (i >= 0) {
        const l = this.buffer.slice(0, i);
        this.buffer = this.buffer.slice(i + 2);
        return l;
      }
      if (this.socket.destroyed || this.socket.readableEnded) return null;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  /** Sends a tagged command; returns the tagged reply line (null if closed). */
  async command(tag: string, text: string): Promise<string | null> {
    this.socket.write(`${tag} ${text}\r\n`);
    for (;;) {
      const l = await this.line();
      if (l === null || l.startsWith(`${tag} `)) return l;
    }
  }
}

async function setup(): Promise<{ h: Harness; access: AccessControl; done(): Promise<void> }> {
  const h = await startHarness({ imap: { login_failure_delay_ms: 0, max_login_failures: 3 } });
  await importFixture(h.store);
  const access = createAccessControl({ config: accessConfig(POLICY), store: () => h.store, log: silentLogger(), events: h.runtime.events });
  await access.reload();
  h.runtime.guard = access;
  return {
    h,
    access,
    async done() {
      await access.close();
      await h.close();
    },
  };
}

test('the IMAP server greets an allowed country and closes on a refused one, before any byte', async () => {
  const { h, done } = await setup();
  try {
    const de = await Client.open(h.tlsPort, '127.0.0.10');
    assert.match((await de.line()) ?? '', /^\* OK/);
    assert.match((await de.command('a', `LOGIN alice@example.org "${PASSWORD}"`)) ?? '', /^a OK/);
    de.socket.destroy();
    const cn = await Client.open(h.tlsPort, '127.0.0.20');
    assert.equal(await cn.line(), null, 'CN gets no greeting');
    const us = await Client.open(h.port, '127.0.0.21');
    assert.equal(await us.line(), null, 'the STARTTLS port ("imap") refuses too');
  } finally {
    await done();
  }
});

test('5 failed IMAP logins ban the source: its session is closed and it is refused on both IMAP ports; the owner still logs in', async () => {
  const { h, access, done } = await setup();
  try {
    const attacker = '127.0.0.72'; // DE
    const first = await Client.open(h.tlsPort, attacker);
    assert.match((await first.line()) ?? '', /^\* OK/);
    for (let i = 0; i < 2; i++) assert.match((await first.command(`f${i}`, `LOGIN alice@example.org wrong${i}`)) ?? '', /NO/);
    const second = await Client.open(h.tlsPort, attacker);
    assert.match((await second.line()) ?? '', /^\* OK/);
    for (let i = 0; i < 2; i++) assert.match((await second.command(`s${i}`, `LOGIN bob@example.org wrong${i}`)) ?? '', /NO/);
    assert.deepEqual(access.listBans(), [], 'four failures: no ban yet');
    // The fifth failure bans; both of the attacker's sessions are closed (flush).
    await second.command('s2', 'LOGIN root@example.org guess');
    await Promise.all([first.closed, second.closed]);
    assert.deepEqual(access.listBans().map((b) => b.target), [attacker]);
    assert.equal(await (await Client.open(h.tlsPort, attacker)).line(), null);
    assert.equal(await (await Client.open(h.port, attacker)).line(), null);
    // The account's owner, from another allowed address, is not locked out.
    const owner = await Client.open(h.tlsPort, '127.0.0.73');
    assert.match((await owner.line()) ?? '', /^\* OK/);
    assert.match((await owner.command('o', `LOGIN alice@example.org "${PASSWORD}"`)) ?? '', /^o OK/);
    owner.socket.destroy();
  } finally {
    await done();
  }
});
