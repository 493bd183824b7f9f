// Bytes in a declared charset to a JS string. TextDecoder (Node's full ICU) knows the WHATWG encodings,
// which cover what mail uses (ISO-8859-*, windows-125x, KOI8, GB*, Big5, Shift_JIS, EUC-*, ISO-2022-JP).
// An unknown or absent charset never fails: UTF-8 if the bytes are valid UTF-8, else Latin-1.

type Decoder = InstanceType<typeof TextDecoder>;
const decoders = new Map<string, Decoder | null>();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Charset labels seen in mail that WHATWG names differently or not at all. */
const ALIASES: Record<string, string> = {
  'ascii': 'utf-8',
  'us-ascii': 'utf-8',
  'ansi_x3.4-1968': 'utf-8',
  'utf8': 'utf-8',
  'latin1': 'windows-1252',
  'iso8859-1': 'windows-1252',
  'iso-8859-8-i': 'iso-8859-8-i',
  'cp1252': 'windows-1252',
  'cp1251': 'windows-1251',
  'cp1250': 'windows-1250',
  'ks_c_5601-1987': 'euc-kr',
  'x-sjis': 'shift_jis',
  'gb2312': 'gbk',
};

function decoderFor(charset: string): Decoder | null {
  const label = charset.trim().toLowerCase();
  let dec = decoders.get(label);
  if (dec !== undefined) return dec;
  try {
    dec = new TextDecoder(ALIASES[label] ?? label);
  } catch {
    dec = null;
  }
  if (decoders.size < 256) decoders.set(label, dec);
  return dec;
}

/** True when the label names a charset we can convert (used to decide whether a declared charset is honoured). */
export function isKnownCharset(charset: string): boolean {
  return decoderFor(charset) !== null;
}

/** UTF-8 when valid, else Latin-1: how raw 8-bit header bytes are read. */
export function bytesToString(bytes: Uint8Array): string {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  return rangeToString(buffer, 0, buffer.length);
}

/** bytesToString of raw[start, end), without a view object per call (header values are read this way, ~15
 *  per message at delivery). */
export function rangeToString(raw: Buffer, start: number, end: number): string {
  for (let i = start; i < end; i++) {
    if (raw[i]! >= 0x80) {
      try {
        return strictUtf8.decode(raw.subarray(start, end));
      } catch {
        return raw.toString('latin1', start, end);
      }
    }
  }
  return raw.toString('latin1', start, end);
}

/** Decode bytes declared to be in `charset` (null: undeclared). Never throws. */
export function decodeCharset(bytes: Uint8Array, charset: string | null): string {
  if (charset) {
    const dec = decoderFor(charset);
    if (dec) {
      try {
        return dec.decode(bytes);
      } catch {
        // fall through to the undeclared path
      }
    }
  }
  return bytesToString(bytes);
}
