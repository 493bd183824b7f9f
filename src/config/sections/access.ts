// [access] section. Owned by the access subsystem.
import { z } from 'zod';

export const accessSection = z
  .object({
    /** Networks that are never refused or banned (the admin's own). Loopback is always included. */
    admin_networks: z.array(z.string()).default([]),
  })
  .strict()
  .default({ admin_networks: [] });
