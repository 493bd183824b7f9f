// Password check for LOGIN and AUTHENTICATE PLAIN. The accounts service owns the verification (bcrypt and
// Dovecot schemes, constant time whether or not the account exists); this is the one place IMAP asks it.
import { authenticate } from '../accounts/index.ts';
import type { Store, User } from '../store/types.ts';

export type Authenticate = (store: Store, address: string, password: string) => Promise<User | null>;

/** Verifies a login; null when the address or password is wrong (never says which). */
export function verifyLogin(store: Store, address: string, password: string): Promise<User | null> {
  return authenticate(store, address, password);
}
