import { z } from 'zod';

export const tlsSection = z
  .object({
    /** PEM certificate chain and key. Relative paths are relative to the config file. */
    cert: z.string().optional(),
    key: z.string().optional(),
    /** Create a self-signed certificate in the data directory when no cert is configured. */
    self_signed: z.boolean().default(true),
    min_version: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
  })
  .strict()
  // One without the other used to fall back to a self-signed certificate without a word.
  .superRefine((tls, ctx) => {
    if (tls.cert !== undefined && tls.key === undefined) ctx.addIssue({ code: 'custom', path: ['key'], message: 'tls.cert is set but tls.key is missing: set both, or neither for a self-signed certificate' });
    if (tls.key !== undefined && tls.cert === undefined) ctx.addIssue({ code: 'custom', path: ['cert'], message: 'tls.key is set but tls.cert is missing: set both, or neither for a self-signed certificate' });
  })
  .default({ self_signed: true, min_version: 'TLSv1.2' });
