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
  .default({ self_signed: true, min_version: 'TLSv1.2' });
