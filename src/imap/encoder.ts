// Response serialisation (RFC 9051 4 and 9): quoted strings vs literals, NIL, lists, mailbox names.
// A response is a list of chunks (text and literal octets) turned into one Buffer per response line.

export type Chunk = string | Buffer;

/** Longest string we send quoted; longer ones go as literals (clients handle both). */
const MAX_QUOTED = 1024;

export interface EncodeOptions {
  /** After ENABLE UTF8=ACCEPT (RFC 6855), 8-bit UTF-8 may appear in quoted strings. */
  utf8: boolean;
}

/** A string as IMAP `string`: quoted when safe, else a literal. */
export function str(value: string, options: EncodeOptions = { utf8: false }): Chunk[] {
  // NUL fits no IMAP string (imapString in mime/imap-syntax.ts says why U+FFFD).
  if (value.includes('\0')) value = value.replaceAll('\0', '\uFFFD');
  if (canQuote(value, options.utf8)) return ['"' + value.replace(/[\\"]/g, (c) => '\\' + c) + '"'];
  const bytes = Buffer.from(value, 'utf8');
  return [`{${bytes.length}}\r\n`, bytes];
}

export function nstr(value: string | null | undefined, options?: EncodeOptions): Chunk[] {
  return value === null || value === undefined ? ['NIL'] : str(value, options);
}

/** Octets as a literal, or as a literal8 with `binary` (RFC 3516 BINARY, which may carry NUL). A plain literal
 * cannot carry NUL (RFC 9051: CHAR8 is %x01-ff), so each becomes 0x80, as Dovecot sends it: same length, so
 * sizes and partial offsets hold. */
export function literal(bytes: Buffer, binary = false): Chunk[] {
  if (binary) return [`~{${bytes.length}}\r\n`, bytes];
  return [`{${bytes.length}}\r\n`, bytes.includes(0) ? withoutNul(bytes) : bytes];
}

function withoutNul(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes);
  for (let at = copy.indexOf(0); at !== -1; at = copy.indexOf(0, at + 1)) copy[at] = 0x80;
  return copy;
}

/** astring form: an atom when possible, else str(). */
export function astr(value: string, options?: EncodeOptions): Chunk[] {
  if (value.length > 0 && value.length < 200 && /^[!#$&'+,\-./0-9:;<=>?@A-Z[^_`a-z|}~]+$/.test(value) && value.toUpperCase() !== 'NIL') return [value];
  return str(value, options);
}

function canQuote(value: string, utf8: boolean): boolean {
  if (value.length > MAX_QUOTED) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0 || c === 0x0a || c === 0x0d) return false;
    if (c > 0x7e && !utf8) return false;
    if (c < 0x20 && c !== 0x09) return false;
  }
  return true;
}

/** Joins chunks into one Buffer. */
export function toBuffer(chunks: readonly Chunk[]): Buffer {
  // Text-only responses (most FETCH lines) are joined as a string and encoded once.
  if (chunks.every((c) => typeof c === 'string')) return Buffer.from((chunks as string[]).join(''), 'utf8');
  return Buffer.concat(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c, 'utf8') : c)));
}

/** Appends `items` with single spaces between them. */
export function joinChunks(items: readonly Chunk[][]): Chunk[] {
  const out: Chunk[] = [];
  items.forEach((item, i) => {
    if (i > 0) out.push(' ');
    out.push(...item);
  });
  return out;
}

export function parenList(items: readonly Chunk[][]): Chunk[] {
  return ['(', ...joinChunks(items), ')'];
}
