// Delivery status notifications: the bounce (Action: failed) and the delay warning (Action: delayed) sent
// to the envelope sender, as RFC 3464 multipart/report messages with the original header block attached
// as text/rfc822-headers (RFC 6522 / RFC 3462).
import { randomBytes } from 'node:crypto';
import { oneLine } from './status.ts';

/** The original header block we attach; a bigger one is cut (the DSN must stay small). */
export const MAX_ATTACHED_HEADER_BYTES = 64 * 1024;

export interface DsnRecipient {
  address: string;
  action: 'failed' | 'delayed';
  status: string;
  diagnostic: string;
  remoteMta: string | null;
  lastAttemptAt?: number;
}

export interface DsnInput {
  /** Our host name: Reporting-MTA and the From domain. */
  hostname: string;
  queueId: string;
  /** The original envelope sender: the DSN goes to it. */
  sender: string;
  arrivalDate: number;
  recipients: DsnRecipient[];
  /** The original message (only its header block is used). */
  original: Buffer;
  /** For delay warnings: until when we keep trying. */
  willRetryUntil?: number;
  now?: number;
}

function headerBlock(raw: Buffer): Buffer {
  let end = raw.indexOf('\r\n\r\n');
  let sep = 4;
  if (end === -1) {
    end = raw.indexOf('\n\n');
    sep = 2;
  }
  const block = end === -1 ? raw : raw.subarray(0, end + sep / 2);
  if (block.length <= MAX_ATTACHED_HEADER_BYTES) return block;
  // Cut at a line boundary so the part stays well-formed.
  const cut = block.lastIndexOf('\n', MAX_ATTACHED_HEADER_BYTES);
  return block.subarray(0, cut > 0 ? cut + 1 : MAX_ATTACHED_HEADER_BYTES);
}

function toCrlf(text: string): string {
  return text.replace(/\r?\n/g, '\r\n');
}

/** RFC 5322 3.3 date-time. */
export function rfc5322Date(ms: number): string {
  return new Date(ms).toUTCString().replace('GMT', '+0000');
}

export function buildDsn(input: DsnInput): Buffer {
  const now = input.now ?? Date.now();
  const failed = input.recipients.some((r) => r.action === 'failed');
  const boundary = `=_dsn_${randomBytes(12).toString('hex')}`;
  const from = `MAILER-DAEMON@${input.hostname}`;
  const list = input.recipients.map((r) => `  <${r.address}>: ${oneLine(r.diagnostic.replace(/^smtp;\s*/i, ''))}`).join('\n');
  const human = failed
    ? [
        `This is the mail system at ${input.hostname}.`,
        '',
        'Your message could not be delivered to one or more recipients.',
        'The reasons given by the receiving systems are below; the headers of your',
        'message are attached.',
        '',
        list,
      ]
    : [
        `This is the mail system at ${input.hostname}.`,
        '',
        'Your message has not been delivered yet to the recipients below.',
        `It is still queued (id ${input.queueId}) and delivery will be retried` +
          (input.willRetryUntil ? ` until ${rfc5322Date(input.willRetryUntil)}.` : '.'),
        'You do not need to send it again.',
        '',
        list,
      ];

  // RFC 3464 2.2: per-message fields, then one block per recipient.
  const perMessage = [`Reporting-MTA: dns; ${input.hostname}`, `X-Mailstack-Queue-ID: ${input.queueId}`, `Arrival-Date: ${rfc5322Date(input.arrivalDate)}`];
  const perRecipient = input.recipients.map((r) =>
    [
      `Final-Recipient: rfc822; ${r.address}`,
      `Action: ${r.action}`,
      `Status: ${r.status}`,
      ...(r.remoteMta ? [`Remote-MTA: dns; ${r.remoteMta}`] : []),
      `Diagnostic-Code: ${oneLine(r.diagnostic)}`,
      ...(r.lastAttemptAt ? [`Last-Attempt-Date: ${rfc5322Date(r.lastAttemptAt)}`] : []),
      ...(r.action === 'delayed' && input.willRetryUntil ? [`Will-Retry-Until: ${rfc5322Date(input.willRetryUntil)}`] : []),
    ].join('\n'),
  );

  const head = [
    `From: Mail Delivery System <${from}>`,
    `To: <${input.sender}>`,
    `Subject: ${failed ? 'Undelivered Mail Returned to Sender' : 'Delayed Mail (still being retried)'}`,
    `Date: ${rfc5322Date(now)}`,
    `Message-ID: <${input.queueId}.${now.toString(36)}.${randomBytes(4).toString('hex')}@${input.hostname}>`,
    // RFC 3834 5: automatic responses must not be answered automatically.
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    'This is a MIME-encapsulated message.',
    '',
    `--${boundary}`,
    'Content-Description: Notification',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    ...human,
    '',
    `--${boundary}`,
    'Content-Description: Delivery report',
    'Content-Type: message/delivery-status',
    '',
    perMessage.join('\n'),
    '',
    perRecipient.join('\n\n'),
    '',
    `--${boundary}`,
    'Content-Description: Undelivered message headers',
    'Content-Type: text/rfc822-headers',
    'Content-Transfer-Encoding: 8bit',
    '',
  ].join('\n');
  const headers = headerBlock(input.original).toString('binary');
  const tail = `\n--${boundary}--\n`;
  return Buffer.from(toCrlf(head) + toCrlf(headers).replace(/(\r\n)?$/, '\r\n') + toCrlf(tail), 'binary');
}
