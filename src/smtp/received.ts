// The Received trace field (RFC 5321 4.4) the receiving SMTP/LMTP server prepends, in Postfix's layout:
//   Received: from HELO (RDNS [IP])
//           (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))
//           by HOSTNAME (mailstack) with ESMTPS id ID
//           for <rcpt>; DATE
import type { SMTPServerSession } from 'smtp-server';
import type { TLSSocket } from 'node:tls';

/** RFC 5322 3.3 date-time in UTC. */
export function rfc5322Date(ms: number): string {
  return new Date(ms).toUTCString().replace(/GMT$/, '+0000');
}

/** Client-controlled text (HELO, PTR names) inside a comment: printable ASCII only, no parentheses or
 * backslashes that would end or escape the comment, bounded. */
function clean(text: string, max = 255): string {
  return text.replace(/[^\x21-\x7e]|[()\\]/g, '?').slice(0, max);
}

export interface ReceivedInfo {
  session: SMTPServerSession;
  hostname: string;
  id: string;
  /** Only named when the message has a single recipient (Postfix does the same: it would leak Bcc). */
  recipient?: string;
  /** TLS details when the connection is encrypted. */
  tls?: { protocol: string | null; cipher: string } | null | undefined;
  now?: number;
}

export function tlsDetails(socket: TLSSocket | null | undefined, session: SMTPServerSession): ReceivedInfo['tls'] {
  if (!session.secure || !session.tlsOptions) return null;
  const cipher = session.tlsOptions;
  return { protocol: socket?.getProtocol?.() ?? cipher.version ?? null, cipher: cipher.name };
}

export function receivedHeader(info: ReceivedInfo): string {
  const s = info.session;
  const helo = clean(s.hostNameAppearsAs || 'unknown');
  const ip = s.remoteAddress || 'unknown';
  const rdns = s.clientHostname && !s.clientHostname.startsWith('[') ? clean(s.clientHostname) : 'unknown';
  const ipText = ip.includes(':') ? `IPv6:${ip}` : ip;
  const lines = [`Received: from ${helo} (${rdns} [${ipText}])`];
  if (info.tls) {
    lines.push(`\t(using ${clean(info.tls.protocol ?? 'TLS')} with cipher ${clean(info.tls.cipher)})`);
  }
  const protocol = s.transmissionType || 'SMTP';
  lines.push(`\tby ${clean(info.hostname)} (mailstack) with ${protocol} id ${clean(info.id)}`);
  const date = rfc5322Date(info.now ?? Date.now());
  if (info.recipient && /^[^\s<>()\\]+$/.test(info.recipient)) lines.push(`\tfor <${info.recipient}>; ${date}`);
  else {
    lines[lines.length - 1] += ';';
    lines.push(`\t${date}`);
  }
  return lines.join('\r\n');
}
