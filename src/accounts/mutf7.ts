// Modified UTF-7 (RFC 3501 5.1.3), the encoding of non-ASCII mailbox names in IMAP and in Dovecot's
// Maildir++ folder names (".Entw&APw-rfe" is "Entwürfe").

/** RFC 3501 5.1.3: printable US-ASCII (0x20-0x7e) stands for itself, "&" is written "&-". */
export function encodeMutf7(name: string): string {
  let out = '';
  let pending: number[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    const bytes = Buffer.alloc(pending.length * 2);
    pending.forEach((unit, i) => bytes.writeUInt16BE(unit, i * 2));
    // Modified BASE64: "," instead of "/", no "=" padding.
    out += '&' + bytes.toString('base64').replace(/=+$/, '').replace(/\//g, ',') + '-';
    pending = [];
  };
  for (let i = 0; i < name.length; i++) {
    const unit = name.charCodeAt(i);
    if (unit >= 0x20 && unit <= 0x7e) {
      flush();
      out += unit === 0x26 ? '&-' : name[i];
    } else {
      pending.push(unit); // UTF-16 code units: surrogate pairs travel as two units, as the RFC says
    }
  }
  flush();
  return out;
}

export class Mutf7Error extends Error {
  readonly code = 'MUTF7';
}

/** Decodes modified UTF-7; throws Mutf7Error for a malformed name (an unterminated or bad "&...-"). */
export function decodeMutf7(encoded: string): string {
  let out = '';
  let i = 0;
  while (i < encoded.length) {
    const ch = encoded[i]!;
    if (ch !== '&') {
      out += ch;
      i++;
      continue;
    }
    const end = encoded.indexOf('-', i + 1);
    if (end < 0) throw new Mutf7Error(`unterminated "&" in mailbox name ${JSON.stringify(encoded)}`);
    const b64 = encoded.slice(i + 1, end);
    if (b64 === '') {
      out += '&';
    } else {
      if (!/^[A-Za-z0-9+,]+$/.test(b64)) throw new Mutf7Error(`bad modified BASE64 in mailbox name ${JSON.stringify(encoded)}`);
      const bytes = Buffer.from(b64.replace(/,/g, '/'), 'base64');
      if (bytes.length % 2 !== 0) throw new Mutf7Error(`odd byte count in mailbox name ${JSON.stringify(encoded)}`);
      for (let j = 0; j < bytes.length; j += 2) out += String.fromCharCode(bytes.readUInt16BE(j));
    }
    i = end + 1;
  }
  return out;
}
