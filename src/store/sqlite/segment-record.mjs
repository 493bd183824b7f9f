// The form of a body segment record (v2), shared by the thread that seals records (segment-io.mjs) and the
// TypeScript that reads them (segments.ts). Plain JavaScript so that segment-io.mjs needs no TypeScript loader.
//
// Record: nonce (NONCE_BYTES) || AES-256-GCM ciphertext (the body's size) || tag (TAG_BYTES). The row of the
// body stores the nonce; the associated data binds the format version and the body's size.

export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

/** Associated data of a v2 record of a body of `size` bytes. */
export function recordAssociatedData(size) {
  const ad = Buffer.alloc(1 + 8);
  ad.writeUInt8(2, 0);
  ad.writeBigUInt64BE(BigInt(size), 1);
  return ad;
}
