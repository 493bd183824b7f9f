// The IMAP error taxonomy, mapped to replies in one place (session.ts):
//   ImapSyntaxError -> tagged BAD (the command could not be understood; the session goes on)
//   ImapNo          -> tagged NO [CODE] (understood but refused: a user-visible outcome)
//   ImapBye         -> untagged BYE and close (the connection cannot go on)
// StoreError from the store maps to NO with a code (see toReply in session.ts). Anything else is a bug.

/** RFC 9051 7.1 response codes we use. */
export type ResponseCode =
  | 'ALERT' | 'ALREADYEXISTS' | 'AUTHENTICATIONFAILED' | 'AUTHORIZATIONFAILED' | 'BADCHARSET' | 'CANNOT'
  | 'CLIENTBUG' | 'CONTACTADMIN' | 'EXPUNGEISSUED' | 'INUSE' | 'LIMIT' | 'NONEXISTENT' | 'NOPERM'
  | 'OVERQUOTA' | 'PRIVACYREQUIRED' | 'SERVERBUG' | 'TOOBIG' | 'TRYCREATE' | 'UNAVAILABLE' | 'UNKNOWN-CTE'
  | 'NOTSAVED' | 'MODIFIED' | 'UIDNOTSTICKY' | 'CLOSED' | 'COMPRESSIONACTIVE' | 'USEATTR' | 'READ-ONLY';

export class ImapSyntaxError extends Error {
  constructor(message: string, readonly code: ResponseCode | null = null) {
    super(message);
    this.name = 'ImapSyntaxError';
  }
}

export class ImapNo extends Error {
  constructor(readonly code: ResponseCode | null, message: string, readonly codeArgs: string | null = null) {
    super(message);
    this.name = 'ImapNo';
  }
}

export class ImapBye extends Error {
  constructor(message: string, readonly code: ResponseCode | null = null) {
    super(message);
    this.name = 'ImapBye';
  }
}
