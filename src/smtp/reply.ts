// The SMTP reply taxonomy: every refusal a handler gives is an SmtpReply with its basic code, its RFC 3463
// enhanced status code and a text. smtp-server sends `err.responseCode` and `err.message`; listener.ts
// recognises the enhanced code at the start of the message so it is not doubled with the library's own.

export class SmtpReply extends Error {
  readonly responseCode: number;
  constructor(
    readonly code: number,
    readonly enhanced: string,
    readonly text: string,
  ) {
    super(`${enhanced} ${text}`);
    this.name = 'SmtpReply';
    this.responseCode = code;
  }

  get temporary(): boolean {
    return this.code >= 400 && this.code < 500;
  }
}

/** A reply that starts with an enhanced status code ("5.7.1 Relay access denied"). */
export const ENHANCED_PREFIX = /^[245]\.\d{1,3}\.\d{1,3} /;

export const replies = {
  // RFC 3463 4.3.0 "other or undefined mail system status": the store is locked or failing.
  storeLocked: () => new SmtpReply(451, '4.3.0', 'Mail system temporarily unavailable (store locked), try again later'),
  storeFailed: () => new SmtpReply(451, '4.3.0', 'Local error in processing, try again later'),
  // RFC 5321 4.2.2 452 "insufficient system storage", RFC 3463 X.3.1 "mail system full": the disk holding the
  // store is (nearly) full. The reply Postfix gives when its queue file system is (queue_minfree).
  insufficientStorage: () => new SmtpReply(452, '4.3.1', 'Insufficient system storage, try again later'),
  lockedAtConnect: (hostname: string) => new SmtpReply(421, '4.3.0', `${hostname} mail system temporarily unavailable, try again later`),
  relayDenied: (address: string) => new SmtpReply(554, '5.7.1', `<${address}>: Relay access denied`),
  userUnknown: (address: string, detail = 'User unknown') => new SmtpReply(550, '5.1.1', `<${address}>: Recipient address rejected: ${detail}`),
  overQuota: (address: string, permanent: boolean) =>
    permanent ? new SmtpReply(552, '5.2.2', `<${address}>: Mailbox full`) : new SmtpReply(452, '4.2.2', `<${address}>: Mailbox full, try again later`),
  // Postfix cleanup(8) defers a recipient whose virtual aliases go past virtual_alias_expansion_limit or
  // virtual_alias_recursion_limit with "4.6.0 Alias expansion error": temporary, so nothing is lost
  // while the alias table is fixed.
  aliasExpansion: (address: string, detail: string) => new SmtpReply(451, '4.6.0', `<${address}>: Alias expansion error: ${detail}, try again later`),
  authRequired: () => new SmtpReply(530, '5.7.0', 'Must issue a STARTTLS command and authenticate first'),
  senderMismatch: (address: string, login: string) => new SmtpReply(553, '5.7.1', `<${address}>: Sender address rejected: not owned by user ${login}`),
};
