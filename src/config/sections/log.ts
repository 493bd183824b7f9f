import { z } from 'zod';

export const logSection = z
  .object({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    /** A file to append to; default standard error. */
    file: z.string().optional(),
  })
  .strict()
  .default({ level: 'info' });
