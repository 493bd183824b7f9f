// Types of segment-record.mjs.
export declare const NONCE_BYTES: number;
export declare const TAG_BYTES: number;
export declare function recordAssociatedData(size: number, packedLength?: number | null): Buffer;
