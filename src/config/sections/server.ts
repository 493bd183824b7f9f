import { z } from 'zod';
import { cidr, hostName } from './common.ts';

export const serverSection = z
  .object({
    /** The host name this server announces in SMTP greetings, Received lines and DSNs. */
    hostname: hostName.default('localhost'),
    /** The data directory: the vault, the store, the queue. Relative paths are relative to the config file. */
    data_dir: z.string().min(1),
    /** Admin socket; default DATA_DIR/admin.sock. Only the owner can open it (mode 0600). */
    admin_socket: z.string().min(1, 'expected a path; leave the key out for DATA_DIR/admin.sock').optional(),
    /** Unprivileged user to switch to after binding ports (when started as root). */
    user: z.string().optional(),
    /** Networks trusted like Postfix's mynetworks: may relay without AUTH. Loopback only by default. */
    trusted_networks: z.array(cidr).default(['127.0.0.0/8', '::1/128']),
  })
  .strict();
