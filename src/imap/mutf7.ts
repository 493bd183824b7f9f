// Modified UTF-7 mailbox names (RFC 3501 5.1.3): "&" starts a base64 run of UTF-16BE with "," for "/",
// ended by "-"; "&-" is "&". Only used before ENABLE UTF8=ACCEPT (RFC 6855 3: UTF-8 names after it).
import { ImapSyntaxError } from './errors.ts';

export function encodeMutf7(name: string): string {
  let out = '';
  let run = '';
  const flush = () => {
    if (!run) return;
    const utf16 = Buffer.alloc(run.length * 2);
    for (let i = 0; i < run.length; i++) utf16.writeUInt16BE(run.charCodeAt(i), i * 2);
    out += '&' + utf16.toString('base64').replace(/=+$/, '').replace(/\//g, ',') + '-';
    run = '';
  };
  for (const ch of name) {
    const c = ch.charCodeAt(0);
    if (c >= 0x20 && c <= 0x7e) {
      flush();
      out += ch === '&' ? '&-' : ch;
    } else {
      run += ch;
    }
  }
  flush();
  return out;
}

/** Decodes a modified UTF-7 name; throws ImapSyntaxError on malformed input (RFC 3501 5.1.3 forbids
 * 8-bit octets and unterminated or non-minimal runs). */
export function decodeMutf7(name: string): string {
  let out = '';
  let i = 0;
  while (i < name.length) {
    const ch = name.charAt(i);
    const c = name.charCodeAt(i);
    if (c > 0x7e || c < 0x20) throw new ImapSyntaxError('Mailbox name is not valid modified UTF-7 (8-bit or control character)');
    if (ch !== '&') {
      out += ch;
      i++;
      continue;
    }
    const end = name.indexOf('-', i + 1);
    if (end < 0) throw new ImapSyntaxError('Mailbox name is not valid modified UTF-7 (unterminated "&" run)');
    const b64 = name.slice(i + 1, end);
    i = end + 1;
    if (b64 === '') {
      out += '&';
      continue;
    }
    if (!/^[A-Za-z0-9+,]+$/.test(b64)) throw new ImapSyntaxError('Mailbox name is not valid modified UTF-7 (bad base64)');
    const bytes = Buffer.from(b64.replace(/,/g, '/'), 'base64');
    if (bytes.length % 2 !== 0 || bytes.length === 0) throw new ImapSyntaxError('Mailbox name is not valid modified UTF-7 (odd UTF-16)');
    let run = '';
    for (let j = 0; j < bytes.length; j += 2) run += String.fromCharCode(bytes.readUInt16BE(j));
    out += run;
  }
  return out;
}
