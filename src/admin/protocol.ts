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

/** One request line may carry a whole message for `deliver` or an import: bounded by the largest message
 * plus base64 overhead. */
export const MAX_ADMIN_LINE_BYTES = 128 * 1024 * 1024;

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
