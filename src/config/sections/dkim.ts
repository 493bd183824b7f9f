// [dkim] section. Owned by the dkim subsystem: signing of submitted mail. Keys live in the vault
// (`mailstack dkim keygen|import`), never in the config.
import { z } from 'zod';

export const dkimSection = z
  .object({
    /** Sign submitted mail for every From domain that has a key. */
    enabled: z.boolean().default(true),
    /** Selector used by `dkim keygen` when none is given, and preferred when a domain has several keys. */
    selector: z.string().min(1).default('mail'),
    /** Also sign with the domain's Ed25519 key when it has one besides its RSA key (RFC 8463 dual signing). */
    ed25519: z.boolean().default(true),
  })
  .strict()
  .default({ enabled: true, selector: 'mail', ed25519: true });
