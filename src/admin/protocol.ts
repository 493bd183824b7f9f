// The admin socket's wire format: one JSON object per line. Buffers travel as {"$b64": "..."} (and undefined
// array items as {"$undefined": true}) so that the
// store's methods can be called through the socket with their real argument and result types.

export interface AdminRequest {
  id: number;
  method: string;
  params?: unknown;
}

export interface AdminErrorBody {
  name: string;
  code?: string;
  message: string;
}

export type AdminResponse = { id: number; result: unknown } | { id: number; error: AdminErrorBody };

/** One request line may carry a whole message for `deliver` or an import, or two for a `deliver` whose
 * aliases also forward off-site (the local copy and the queued one go in one store call): bounded by twice the
 * largest message (50 MiB by default) plus base64 overhead. */
export const MAX_ADMIN_LINE_BYTES = 256 * 1024 * 1024;

/**
 * Cuts the text read from a socket into lines. A line of a hundred MiB and more (a message in base64) comes in
 * thousands of chunks: each is searched once and kept as it is, and a line is joined once, when its end came.
 * (Appending every chunk to one string and searching all of it again took time in the square of the line's
 * length: 24 s for a 66 MiB line, 97 s for 133 MiB, past the client's deadline.)
 */
export class LineSplitter {
  private parts: string[] = [];
  private held = 0;

  /** Characters of the line not yet ended. */
  get pending(): number {
    return this.held;
  }

  /** The lines `chunk` ends, without their line feed. */
  push(chunk: string): string[] {
    const lines: string[] = [];
    let start = 0;
    let nl: number;
    while ((nl = chunk.indexOf('\n', start)) >= 0) {
      this.parts.push(chunk.slice(start, nl));
      lines.push(this.parts.length === 1 ? this.parts[0]! : this.parts.join(''));
      this.parts = [];
      this.held = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.parts.push(start === 0 ? chunk : chunk.slice(start));
      this.held += chunk.length - start;
    }
    return lines;
  }
}

export function encodeValue(value: unknown): unknown {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return { $b64: Buffer.from(value).toString('base64') };
  // JSON turns undefined in an array into null; `listUsers(undefined)` must arrive as undefined.
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? { $undefined: true } : encodeValue(v)));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = encodeValue(v);
    return out;
  }
  return value;
}

export function decodeValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decodeValue);
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if (typeof obj['$b64'] === 'string' && Object.keys(obj).length === 1) return Buffer.from(obj['$b64'], 'base64');
    if (obj['$undefined'] === true && Object.keys(obj).length === 1) return undefined;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) out[k] = decodeValue(v);
    return out;
  }
  return value;
}
