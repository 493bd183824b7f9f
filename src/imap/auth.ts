// Password check for LOGIN and AUTHENTICATE PLAIN. The accounts service owns the verification (bcrypt and
// Dovecot schemes, constant time); this is the one place the IMAP server asks it.
import type { Store, User } from '../store/types.ts';

export type Authenticate = (store: Store, address: string, password: string) => Promise<User | null>;

let accountsAuthenticate: Authenticate | null | undefined;

/** Verifies a login; null when the address or password is wrong (never says which). */
export async function verifyLogin(store: Store, address: string, password: string): Promise<User | null> {
  if (accountsAuthenticate === undefined) {
    // src/accounts provides authenticate(); loaded lazily so the IMAP server has one code path.
    const path = '../accounts/index.ts';
    try {
      const mod = (await import(path)) as { authenticate?: Authenticate };
      accountsAuthenticate = typeof mod.authenticate === 'function' ? mod.authenticate : null;
    } catch {
      accountsAuthenticate = null;
    }
  }
  if (accountsAuthenticate) return accountsAuthenticate(store, address, password);
  return bcryptFallback(store, address, password);
}

async function bcryptFallback(store: Store, address: string, password: string): Promise<User | null> {
  const bcrypt = (await import('bcrypt')).default;
  const user = await store.accounts.getUser(address.toLowerCase());
  // Compare against a fixed hash when the user is unknown so both paths take the same time.
  const hash = user?.passwordHash.replace(/^\{BLF-CRYPT\}/, '').replace(/^\$2y\$/, '$2b$') ?? DUMMY_HASH;
  const ok = hash.startsWith('$2') ? await bcrypt.compare(password, hash) : false;
  return ok && user ? user : null;
}

/** bcrypt of a random string, cost 10: used for unknown users. */
const DUMMY_HASH = '$2b$10$CwTycUXWue0Thq9StjUM0uJ8.5p9X5Zb4u3bEJ7xgaHQ6C9o8wTJm';
