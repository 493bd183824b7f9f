// RFC 2047 encoded words in header values ("=?charset?B?...?=" / "=?charset?Q?...?="), decoded to a JS string.
import { decodeCharset } from './charset.ts';
import { MAX_HEADER_VALUE_CHARS } from './limits.ts';

// RFC 2047 section 2: encoded-word = "=?" charset "?" encoding "?" encoded-text "?=". RFC 2231 section 5 allows
// "charset*language"; the language is dropped. Lenient: encoded words are also recognised inside words, as
// most mail readers do.
const ENCODED_WORD = /=\?([^?\s]{1,64})\?([BbQq])\?([^?\s]*)\?=/g;

function wordBytes(encoding: string, text: string): Buffer {
  if (encoding === 'B' || encoding === 'b') return Buffer.from(text, 'base64');
  // RFC 2047 4.2: Q encoding: "_" is a space, "=XX" a byte.
  const out = Buffer.allocUnsafe(text.length);
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5f) out[o++] = 0x20;
    else if (c === 0x3d && i + 2 < text.length && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      out[o++] = parseInt(text.slice(i + 1, i + 3), 16);
      i += 2;
    } else out[o++] = c & 0xff;
  }
  return out.subarray(0, o);
}

/** Decode the RFC 2047 encoded words of a header value. Never throws; text that is not an encoded word is kept.
 *  Adjacent encoded words are joined without the whitespace between them (RFC 2047 section 6.2), and words in
 *  the same charset are concatenated as bytes first, so a multi-byte character split across words survives. */
export function decodeHeaderValue(value: string): string {
  if (value.length > MAX_HEADER_VALUE_CHARS) value = value.slice(0, MAX_HEADER_VALUE_CHARS);
  if (!value.includes('=?')) return value;
  let out = '';
  let last = 0;
  let pendingCharset: string | null = null;
  let pending: Buffer[] = [];
  const flush = (): void => {
    if (pending.length > 0) out += decodeCharset(Buffer.concat(pending), pendingCharset);
    pending = [];
    pendingCharset = null;
  };
  ENCODED_WORD.lastIndex = 0;
  for (let m = ENCODED_WORD.exec(value); m; m = ENCODED_WORD.exec(value)) {
    const between = value.slice(last, m.index);
    const charset = m[1]!.split('*')[0]!.toLowerCase();
    const bytes = wordBytes(m[2]!, m[3]!);
    if (pending.length > 0 && /^[ \t\r\n]*$/.test(between)) {
      // Whitespace between two encoded words is not displayed.
      if (charset !== pendingCharset) {
        flush();
        pendingCharset = charset;
      }
    } else {
      flush();
      out += between;
      pendingCharset = charset;
    }
    pending.push(bytes);
    last = m.index + m[0].length;
  }
  flush();
  return out + value.slice(last);
}
