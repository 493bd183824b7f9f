// Content-Transfer-Encoding decoders (RFC 2045 section 6). Lenient, as receivers must be: characters outside
// the base64 alphabet are skipped, a malformed quoted-printable escape is kept literally.

/** RFC 2045 6.8: base64. Node's decoder already skips whitespace and invalid characters and stops at "=". */
export function decodeBase64(input: Uint8Array): Buffer {
  return Buffer.from(Buffer.from(input.buffer, input.byteOffset, input.length).toString('latin1'), 'base64');
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** RFC 2045 6.7: quoted-printable. Soft line breaks ("=" at end of line, trailing blanks allowed) vanish,
 *  trailing whitespace before a line break is dropped (rule 3), other bytes pass through. */
export function decodeQuotedPrintable(input: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(input.length);
  let o = 0;
  let i = 0;
  const n = input.length;
  while (i < n) {
    const c = input[i]!;
    if (c === 0x3d /* = */) {
      const h1 = i + 1 < n ? hexValue(input[i + 1]!) : -1;
      const h2 = i + 2 < n ? hexValue(input[i + 2]!) : -1;
      if (h1 >= 0 && h2 >= 0) {
        out[o++] = (h1 << 4) | h2;
        i += 3;
        continue;
      }
      // Soft line break: "=" then optional blanks then CRLF/LF (or end of input).
      let j = i + 1;
      while (j < n && (input[j] === 0x20 || input[j] === 0x09)) j++;
      if (j >= n) {
        i = j;
        continue;
      }
      if (input[j] === 0x0a) {
        i = j + 1;
        continue;
      }
      if (input[j] === 0x0d && (j + 1 >= n || input[j + 1] === 0x0a)) {
        i = j + 2;
        continue;
      }
      out[o++] = c;
      i++;
      continue;
    }
    if (c === 0x20 || c === 0x09) {
      // Rule 3: whitespace at the end of an encoded line was added in transport; drop it.
      let j = i;
      while (j < n && (input[j] === 0x20 || input[j] === 0x09)) j++;
      if (j >= n || input[j] === 0x0a || (input[j] === 0x0d && input[j + 1] === 0x0a)) {
        i = j;
        continue;
      }
      while (i < j) out[o++] = input[i++]!;
      continue;
    }
    out[o++] = c;
    i++;
  }
  return out.subarray(0, o);
}

/** Decode a body by its Content-Transfer-Encoding (lower-case). Null for an encoding we do not know
 *  (RFC 3516: the server answers BINARY with [UNKNOWN-CTE]). */
export function decodeTransfer(body: Uint8Array, encoding: string): Buffer | null {
  switch (encoding) {
    case '7bit':
    case '8bit':
    case 'binary':
    case '':
      return Buffer.from(body.buffer, body.byteOffset, body.length);
    case 'base64':
      return decodeBase64(body);
    case 'quoted-printable':
      return decodeQuotedPrintable(body);
    default:
      return null;
  }
}
