// Character classes of the RFC 9051 9 formal syntax.

/** atom-specials: "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials / resp-specials */
export function isAtomChar(c: number): boolean {
  if (c <= 0x20 || c >= 0x7f) return false;
  switch (c) {
    case 0x28: // (
    case 0x29: // )
    case 0x7b: // {
    case 0x25: // %
    case 0x2a: // *
    case 0x22: // "
    case 0x5c: // \
    case 0x5d: // ]
      return false;
    default:
      return true;
  }
}

/** ASTRING-CHAR = ATOM-CHAR / resp-specials */
export function isAstringChar(c: number): boolean {
  return c === 0x5d || isAtomChar(c);
}

/** tag = 1*<any ASTRING-CHAR except "+"> */
export function isTagChar(c: number): boolean {
  return c !== 0x2b && isAstringChar(c);
}

/** list-char = ATOM-CHAR / list-wildcards / resp-specials */
export function isListChar(c: number): boolean {
  return c === 0x25 || c === 0x2a || isAstringChar(c);
}
