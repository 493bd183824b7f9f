// The whole config schema: one zod object per TOML table, each in sections/. This is the single source of
// defaults; mailstack.example.toml documents every key.
import { z } from 'zod';
import { serverSection } from './sections/server.ts';
import { logSection } from './sections/log.ts';
import { tlsSection } from './sections/tls.ts';
import { storeSection } from './sections/store.ts';
import { smtpSection, submissionSection, lmtpSection } from './sections/smtp.ts';
import { imapSection } from './sections/imap.ts';
import { dnsSection } from './sections/dns.ts';
import { queueSection } from './sections/queue.ts';
import { dkimSection } from './sections/dkim.ts';
import { accessSection } from './sections/access.ts';

export const configSchema = z
  .object({
    server: serverSection,
    log: logSection,
    tls: tlsSection,
    store: storeSection,
    smtp: smtpSection,
    submission: submissionSection,
    lmtp: lmtpSection,
    imap: imapSection,
    dns: dnsSection,
    queue: queueSection,
    dkim: dkimSection,
    access: accessSection,
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
