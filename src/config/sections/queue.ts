// [queue] section. Owned by the queue subsystem.
import { z } from 'zod';

export const queueSection = z
  .object({
    /** How long a message is retried before it bounces (Postfix maximal_queue_lifetime). */
    max_lifetime_hours: z.number().positive().default(120),
  })
  .strict()
  .default({ max_lifetime_hours: 120 });
