import { z } from 'zod';

export const storeSection = z
  .object({
    /** Default quota per user in bytes (0 = unlimited); `mailstack user add --quota` overrides it. */
    default_quota_bytes: z.number().int().nonnegative().default(0),
    /** What delivery answers when a mailbox is over quota: a temporary (452/4.2.2) or permanent (552/5.2.2) failure. */
    over_quota: z.enum(['temporary', 'permanent']).default('temporary'),
    /** Largest message accepted anywhere (SMTP SIZE, IMAP APPENDLIMIT, deliver). */
    max_message_bytes: z.number().int().positive().default(50 * 1024 * 1024),
    /** SMTP (MX, submission, LMTP) refuses MAIL FROM with 452 4.3.1 while the data directory's file system has
     * less free space than this, or than 1.5 x max_message_bytes if that is more (Postfix queue_minfree). Senders
     * keep the message and retry. 0: 1.5 x max_message_bytes. */
    min_free_bytes: z.number().int().nonnegative().default(0),
  })
  .strict()
  .default({ default_quota_bytes: 0, over_quota: 'temporary', max_message_bytes: 50 * 1024 * 1024, min_free_bytes: 0 });
