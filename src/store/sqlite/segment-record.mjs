// The form of a body segment record (v2 and v3), shared by the thread that seals records (segment-io.mjs) and the
// TypeScript that reads them (segments.ts). Plain JavaScript so that segment-io.mjs needs no TypeScript loader.
//
// Record: nonce (NONCE_BYTES) || AES-256-GCM ciphertext || tag (TAG_BYTES). The row of the body stores the
// nonce; the associated data binds the format version and the body's size. The ciphertext is the body itself
// (v2), or its packed form (v3, body-packing.ts: base64 parts kept decoded), whose length the row stores too
// and the associated data binds, so that neither form can be passed off as the other.

export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

/** Associated data of a record of a body of `size` bytes: v2, or v3 when `packedLength` (the length of its
 * packed form) is a number. */
export function recordAssociatedData(size, packedLength = null) {
  const ad = Buffer.alloc(packedLength === null ? 1 + 8 : 1 + 8 + 8);
  ad.writeUInt8(packedLength === null ? 2 : 3, 0);
  ad.writeBigUInt64BE(BigInt(size), 1);
  if (packedLength !== null) ad.writeBigUInt64BE(BigInt(packedLength), 9);
  return ad;
}
