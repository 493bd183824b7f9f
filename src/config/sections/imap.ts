// [imap] section. Owned by the imap subsystem.
import { z } from 'zod';
import { listenList } from './common.ts';

export const imapSection = z
  .object({
    /** IMAP with STARTTLS (143): LOGINDISABLED until TLS. */
    listen: listenList.default([]),
    /** IMAP with implicit TLS (993). */
    listen_tls: listenList.default([]),
  })
  .strict()
  .default({ listen: [], listen_tls: [] });
