// The SMTP client side of the queue: one message to the recipients of one destination domain, trying the
// MX hosts in order, with opportunistic or required STARTTLS (RFC 3207) and a short-lived cache of idle
// connections so that a burst of messages to one domain shares sessions (Postfix's connection cache).
// Built on nodemailer's SMTP connection.
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../log/index.ts';
import type { MxHost } from './route.ts';
import { deferAll, enhancedStatus, failAll, fromReply, oneLine, type RecipientResult } from './status.ts';

export type TlsPolicy = 'none' | 'may' | 'encrypt' | 'verify';

export interface ClientOptions {
  /** EHLO name. */
  hostname: string;
  port: number;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  /** 0 = close after each message. */
  connectionCacheMs: number;
  log: Logger;
}

export interface TlsReport {
  secure: boolean;
  /** The certificate verified against the system CAs and the MX host name. */
  verified: boolean;
  verifyError: string | null;
  protocol: string | null;
  cipher: string | null;
}

interface Session {
  conn: SMTPConnection;
  host: string;
  address: string;
  tls: TlsReport;
}

type SmtpError = Error & { code?: string; responseCode?: number; response?: string; rejectedErrors?: SmtpError[]; recipient?: string };

function tlsOptions(policy: TlsPolicy, servername: string): Partial<SMTPConnection.Options> {
  const sni = /^[0-9.]+$|:/.test(servername) ? {} : { servername };
  switch (policy) {
    case 'none':
      return { ignoreTLS: true };
    case 'may':
      // Opportunistic TLS: an unverifiable certificate still beats plaintext (RFC 7435); we log it.
      return { opportunisticTLS: true, tls: { rejectUnauthorized: false, ...sni } };
    case 'encrypt':
      return { requireTLS: true, tls: { rejectUnauthorized: false, ...sni } };
    case 'verify':
      return { requireTLS: true, tls: { rejectUnauthorized: true, ...sni } };
  }
}

function tlsReport(conn: SMTPConnection): TlsReport {
  const socket = conn._socket as TLSSocket | false | null;
  if (!conn.secure || !socket || typeof (socket as TLSSocket).getPeerCertificate !== 'function') {
    return { secure: false, verified: false, verifyError: null, protocol: null, cipher: null };
  }
  const err = socket.authorizationError;
  return {
    secure: true,
    verified: socket.authorized,
    verifyError: err ? String(err) : null,
    protocol: socket.getProtocol(),
    cipher: socket.getCipher()?.name ?? null,
  };
}

function connect(address: string, host: MxHost, policy: TlsPolicy, options: ClientOptions): Promise<Session> {
  return new Promise((resolve, reject) => {
    const conn = new SMTPConnection({
      host: address,
      port: options.port,
      name: options.hostname,
      connectionTimeout: options.connectTimeoutMs,
      greetingTimeout: options.commandTimeoutMs,
      socketTimeout: options.commandTimeoutMs,
      // Loopback and private destinations were already filtered (or allowed) by the route.
      allowInternalNetworkInterfaces: true,
      ...tlsOptions(policy, host.name),
    });
    let settled = false;
    // Errors after the handshake also reach send()'s callback; this listener only keeps an 'error' event
    // from going unhandled (which would throw) and fails the connect while it is pending.
    conn.on('error', (err: SmtpError) => {
      if (settled) {
        options.log.debug({ host: host.name, address, err: err.message }, 'queue: SMTP connection error');
        return;
      }
      settled = true;
      conn.close();
      reject(err);
    });
    conn.connect((err) => {
      if (settled) return;
      settled = true;
      if (err) {
        conn.close();
        reject(err);
        return;
      }
      resolve({ conn, host: host.name, address, tls: tlsReport(conn) });
    });
  });
}

function send(conn: SMTPConnection, sender: string, recipients: string[], raw: Buffer): Promise<SMTPConnection.SentMessageInfo> {
  return new Promise((resolve, reject) => {
    conn.send({ from: sender === '' ? false : sender, to: recipients, size: raw.length, use8BitMime: true }, raw, (err, info) => {
      if (err) reject(err);
      else resolve(info!);
    });
  });
}

function reset(conn: SMTPConnection): Promise<void> {
  return new Promise((resolve, reject) => conn.reset((err) => (err ? reject(err) : resolve())));
}

/** Idle sessions per destination domain, each closed after connectionCacheMs. */
export class ConnectionCache {
  private readonly idle = new Map<string, { session: Session; timer: NodeJS.Timeout }[]>();
  constructor(
    private readonly ttlMs: number,
    private readonly maxPerDestination: number,
  ) {}

  take(destination: string): Session | undefined {
    const list = this.idle.get(destination);
    while (list && list.length > 0) {
      const { session, timer } = list.pop()!;
      clearTimeout(timer);
      if (!session.conn.destroyed && session.conn._socket) return session;
    }
    return undefined;
  }

  put(destination: string, session: Session): void {
    const list = this.idle.get(destination) ?? [];
    if (this.ttlMs === 0 || list.length >= this.maxPerDestination) {
      session.conn.quit();
      return;
    }
    const timer = setTimeout(() => {
      const l = this.idle.get(destination);
      const i = l?.findIndex((e) => e.session === session) ?? -1;
      if (l && i >= 0) l.splice(i, 1);
      if (l && l.length === 0) this.idle.delete(destination);
      session.conn.quit();
    }, this.ttlMs);
    timer.unref();
    list.push({ session, timer });
    this.idle.set(destination, list);
  }

  closeAll(): void {
    for (const list of this.idle.values()) {
      for (const { session, timer } of list) {
        clearTimeout(timer);
        session.conn.quit();
      }
    }
    this.idle.clear();
  }
}

/** Errors that mean "this host did not give us a usable session": the next address or MX is tried. */
function describeConnectError(err: SmtpError, host: string, address: string): { status: string; diagnostic: string; permanent: boolean } {
  if (err.code === 'ETLS' || (err as { command?: string }).command === 'STARTTLS') {
    // Required TLS that the host does not offer or cannot complete: a policy problem that may be fixed
    // on their side, so we keep trying (Postfix defers likewise).
    const reply = err.response ? `: ${oneLine(err.response)}` : '';
    return { status: '4.7.5', diagnostic: `x-mailstack; TLS with ${host}[${address}] failed: ${oneLine(err.message)}${reply}`, permanent: false };
  }
  if (err.responseCode) {
    // A 5xx greeting/EHLO refuses service from this host; the next MX might still take it.
    return { status: enhancedStatus(err.response, err.responseCode), diagnostic: `smtp; ${oneLine(err.response ?? err.message)}`, permanent: err.responseCode >= 500 };
  }
  const tls = err.code === 'ETLS' || /tls|certificate|ssl/i.test(err.message);
  return {
    status: tls ? '4.7.5' : '4.4.1',
    diagnostic: `x-mailstack; ${tls ? 'TLS' : 'connect'} to ${host}[${address}] failed: ${oneLine(err.message)}`,
    permanent: false,
  };
}

export interface DeliveryRequest {
  queueId: string;
  destination: string;
  hosts: MxHost[];
  sender: string;
  recipients: string[];
  raw: Buffer;
  policy: TlsPolicy;
}

/** Delivers to the first host that gives a session; one result per recipient. Never throws. */
export async function deliverRemote(request: DeliveryRequest, cache: ConnectionCache, options: ClientOptions): Promise<RecipientResult[]> {
  const log = options.log.child({ queueId: request.queueId, destination: request.destination });
  let session = cache.take(request.destination);
  if (session) {
    try {
      await reset(session.conn);
    } catch {
      session.conn.close();
      session = undefined;
    }
  }
  let lastError: { status: string; diagnostic: string; permanent: boolean; host: string } | undefined;
  let allPermanent = true;
  if (!session) {
    outer: for (const host of request.hosts) {
      for (const address of host.addresses) {
        try {
          session = await connect(address, host, request.policy, options);
        } catch (err) {
          const e = err as SmtpError;
          // RFC 7435: with opportunistic TLS a failed handshake is retried in plaintext, once.
          if (request.policy === 'may' && !e.responseCode && (e.code === 'ETLS' || /tls|ssl/i.test(e.message))) {
            log.warn({ host: host.name, address, err: e.message }, 'queue: TLS handshake failed, retrying without TLS');
            try {
              session = await connect(address, host, 'none', options);
              break outer;
            } catch (err2) {
              lastError = { ...describeConnectError(err2 as SmtpError, host.name, address), host: host.name };
              allPermanent &&= lastError.permanent;
              continue;
            }
          }
          lastError = { ...describeConnectError(e, host.name, address), host: host.name };
          allPermanent &&= lastError.permanent;
          log.info({ host: host.name, address, status: lastError.status, err: lastError.diagnostic }, 'queue: host unusable, trying the next');
          continue;
        }
        break outer;
      }
    }
  }
  if (!session) {
    const why = lastError ?? { status: '4.4.1', diagnostic: 'x-mailstack; no mail host could be reached', permanent: false, host: null };
    return why.permanent && allPermanent
      ? failAll(request.recipients, why.status, why.diagnostic, lastError?.host ?? null)
      : deferAll(request.recipients, why.status.startsWith('5') ? '4' + why.status.slice(1) : why.status, why.diagnostic, lastError?.host ?? null);
  }

  log.info(
    { host: session.host, address: session.address, tls: session.tls.secure, tlsVerified: session.tls.verified, tlsVerifyError: session.tls.verifyError, tlsProtocol: session.tls.protocol, cipher: session.tls.cipher },
    session.tls.secure ? `queue: TLS session with ${session.host} (${session.tls.verified ? 'certificate verified' : `certificate not verified: ${session.tls.verifyError}`})` : `queue: plaintext session with ${session.host}`,
  );

  const mta = session.host;
  try {
    const info = await send(session.conn, request.sender, request.recipients, request.raw);
    const finalCode = Number(/^\d{3}/.exec(info.response)?.[0] ?? 250);
    const rejected = new Map((info.rejectedErrors ?? []).map((e) => [(e as SmtpError).recipient ?? '', e as SmtpError]));
    const results = request.recipients.map((address) => {
      const err = rejected.get(address);
      if (err) return fromReply(address, mta, err.responseCode ?? 450, err.response ?? err.message);
      return fromReply(address, mta, finalCode, info.response);
    });
    cache.put(request.destination, session);
    return results;
  } catch (err) {
    const e = err as SmtpError;
    if (e.rejectedErrors && e.rejectedErrors.length > 0 && !/MAIL FROM/.test(String((e as { command?: string }).command))) {
      // Every recipient refused at RCPT: each has its own reply. The session is still good.
      const byRecipient = new Map(e.rejectedErrors.map((r) => [r.recipient ?? '', r]));
      cache.put(request.destination, session);
      return request.recipients.map((address) => {
        const r = byRecipient.get(address);
        return fromReply(address, mta, r?.responseCode ?? e.responseCode ?? 450, r?.response ?? e.response ?? e.message);
      });
    }
    if (e.code === 'EMESSAGE' && !e.responseCode && /larger than allowed/i.test(e.message)) {
      // RFC 1870: the host announced a SIZE limit below this message; it will never take it.
      cache.put(request.destination, session);
      return failAll(request.recipients, '5.3.4', `x-mailstack; ${mta} accepts at most ${/\d+/.exec(e.message)?.[0] ?? '?'} bytes (SIZE); the message has ${request.raw.length}`, mta);
    }
    session.conn.close();
    if (e.responseCode) {
      // MAIL FROM or the end of DATA refused: the same answer for every recipient.
      return request.recipients.map((address) => fromReply(address, mta, e.responseCode!, e.response ?? e.message));
    }
    // The connection broke mid-transaction: we cannot know whether it was taken; retry (RFC 5321 6.1
    // accepts the risk of a duplicate over the risk of a loss).
    return deferAll(request.recipients, '4.4.2', `x-mailstack; lost connection with ${mta}: ${oneLine(e.message)}`, mta);
  }
}
