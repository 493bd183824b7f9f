// Who an address belongs to: recipient resolution (Postfix virtual_alias_maps + virtual_mailbox_maps),
// login (Dovecot passdb) and the sender check (Postfix reject_sender_login_mismatch).
import type { AccountStore, Store, User } from '../store/types.ts';
import { domainOf, normalizeDomain, SUBADDRESS_DELIMITER, splitSubaddress, tryParseAddress } from './address.ts';
import { DUMMY_PASSWORD_HASH, hashPassword, isSupportedHash, needsRehash, verifyPassword } from './password.ts';

/** Alias chains longer than this are a configuration error (Postfix's virtual_alias_recursion_limit is
 * 1000, but real chains are 1-3 steps; 20 keeps a bad table from costing thousands of lookups). */
export const MAX_ALIAS_DEPTH = 20;
/** At most this many alias targets are followed in one expansion, nested aliases' own targets included
 * (Postfix virtual_alias_expansion_limit: 1000). */
export const MAX_ALIAS_EXPANSION = 1000;

export interface LocalRecipient {
  userId: number;
  /** The address as it reached the user after alias expansion, sub-address kept (user+tag@domain), so
   * that Sieve's envelope :detail and Delivered-To see it. */
  address: string;
}

export type Resolution =
  | {
      status: 'local';
      /** Local mailboxes to deliver to, one entry per user. */
      users: LocalRecipient[];
      /** Addresses outside our domains that aliases forward to: the caller must queue the message for
       * them, or the forwarded copy is lost. Empty when no alias forwards. */
      forwards: string[];
    }
  | { status: 'unknown' }
  | { status: 'remote' }
  /** The aliases go beyond MAX_ALIAS_EXPANSION or MAX_ALIAS_DEPTH: nothing is delivered for this recipient
   * (part of a list must never get the message while the rest silently does not). Carried as a value, as
   * 'unknown' and 'remote' are, for each caller to turn into its own refusal; a temporary one, like
   * Postfix's cleanup(8) ("unreasonable virtual_alias_maps map expansion size ... message not accepted,
   * try again later", 4.6.0 Alias expansion error), so no mail is lost while the table is fixed.
   * `detail` says which limit, for whom, for logs and replies. */
  | { status: 'expansion_error'; detail: string };

/** True when the domain is one of ours (case-insensitive; IDN in either spelling). */
export async function isLocalDomain(store: Store | { accounts: AccountStore }, domain: string): Promise<boolean> {
  let d: string;
  try {
    d = normalizeDomain(domain);
  } catch {
    return false;
  }
  return store.accounts.hasDomain(d);
}

/** Re-attaches a sub-address detail to an alias target (Postfix propagate_unmatched_extensions). */
function withDetail(target: string, detail: string | null): string {
  if (detail === null || target.startsWith('@')) return target;
  const at = target.lastIndexOf('@');
  const local = target.slice(0, at);
  if (local.includes(SUBADDRESS_DELIMITER)) return target;
  return `${local}${SUBADDRESS_DELIMITER}${detail}${target.slice(at)}`;
}

/**
 * Resolves a recipient address to local users (and remote forwards), or 'unknown' (our domain, nobody
 * there: reject with 550 5.1.1) or 'remote' (not our domain: relay only for authenticated senders), or
 * 'expansion_error' (its aliases are too many or too deep: refuse for now, 4xx).
 *
 * Lookup order for each address, as Postfix does for virtual domains, with one deliberate difference:
 * an existing user wins over a catch-all (Postfix lets `@domain` in virtual_alias_maps swallow users that
 * only exist in vmailbox, a well-known trap):
 *   1. an alias for the exact address;   2. a user with that exact address;
 *   3. for user+tag@domain: an alias, then a user, for user@domain (the tag is carried to alias targets);
 *   4. the catch-all alias @domain.
 * Alias targets are resolved the same way, recursively (bounded depth); a target that names the alias
 * itself is looked up as a user only (so `a@d -> a@d, b@d` keeps a copy for a); a cycle is cut.
 */
export async function resolveRecipient(store: Store | { accounts: AccountStore }, address: string): Promise<Resolution> {
  const parsed = tryParseAddress(address);
  if (!parsed) return { status: 'unknown' };
  const accounts = store.accounts;
  const domainCache = new Map<string, boolean>();
  const isOurs = async (domain: string): Promise<boolean> => {
    let v = domainCache.get(domain);
    if (v === undefined) {
      v = await accounts.hasDomain(domain);
      domainCache.set(domain, v);
    }
    return v;
  };
  if (!(await isOurs(parsed.domain))) return { status: 'remote' };

  const users = new Map<number, LocalRecipient>();
  const forwards = new Set<string>();
  let followed = 0;
  // Set once a limit is reached: the expansion then stops, and its partial result is thrown away.
  let overLimit: string | null = null;

  const deliverToUser = async (addr: string, lookup: string): Promise<boolean> => {
    const user = await accounts.getUser(lookup);
    if (!user) return false;
    if (!users.has(user.id)) users.set(user.id, { userId: user.id, address: addr });
    return true;
  };

  // Returns true when the address led somewhere (a user, a forward, or aliases that did).
  const expand = async (addr: string, path: readonly string[]): Promise<boolean> => {
    if (overLimit !== null) return false;
    // Every alias target counts (path is empty only for the recipient itself).
    if (path.length > 0 && ++followed > MAX_ALIAS_EXPANSION) {
      overLimit = `the aliases of ${parsed.address} expand to more than ${MAX_ALIAS_EXPANSION} addresses`;
      return false;
    }
    const p = tryParseAddress(addr);
    if (!p) return false;
    if (!(await isOurs(p.domain))) {
      forwards.add(p.address);
      return true;
    }
    if (path.includes(p.address)) return false; // a cycle: cut, the other targets still count
    if (path.length > MAX_ALIAS_DEPTH) {
      overLimit = `the aliases of ${parsed.address} nest deeper than ${MAX_ALIAS_DEPTH} levels (at ${p.address})`;
      return false;
    }
    const next = [...path, p.address];
    const followAll = async (targets: string[], detail: string | null, self: string): Promise<boolean> => {
      let any = false;
      for (const t of targets) {
        const target = withDetail(t, detail);
        // A self-reference stops alias expansion for that address (Postfix: "a@d a@d, b@d").
        if (target === self || target === p.address) any = (await deliverToUser(target, self)) || any;
        else any = (await expand(target, next)) || any;
      }
      return any;
    };
    // 1-2: exact alias, then exact user.
    const exact = await accounts.aliasTargets(p.address);
    if (exact.length > 0) return followAll(exact, null, p.address);
    if (await deliverToUser(p.address, p.address)) return true;
    // 3: user+tag@domain falls back to user@domain.
    const { user: base, detail } = splitSubaddress(p.local);
    if (detail !== null) {
      const baseAddress = `${base}@${p.domain}`;
      const baseTargets = await accounts.aliasTargets(baseAddress);
      if (baseTargets.length > 0) return followAll(baseTargets, detail, baseAddress);
      if (await deliverToUser(p.address, baseAddress)) return true;
    }
    // 4: catch-all.
    const catchAll = await accounts.aliasTargets(`@${p.domain}`);
    if (catchAll.length > 0) return followAll(catchAll, null, p.address);
    return false;
  };

  await expand(parsed.address, []);
  if (overLimit !== null) return { status: 'expansion_error', detail: overLimit };
  if (users.size === 0 && forwards.size === 0) return { status: 'unknown' };
  return { status: 'local', users: [...users.values()], forwards: [...forwards] };
}

/** What authenticate needs from the password module: injectable so tests can observe the dummy check. */
export interface AuthDeps {
  verify: (stored: string, password: string) => Promise<boolean>;
}
const defaultDeps: AuthDeps = { verify: verifyPassword };

/**
 * Checks a login (an address) and password. Returns the user, or null for a wrong password or an unknown
 * login alike, and both cost the same: one bcrypt comparison at cost 12 (see verifyAtFullCost). On success
 * with an older hash (Dovecot's cost-5 bcrypt, SHA-crypt), the password is re-hashed as bcrypt cost 12 and
 * stored.
 */
export async function authenticate(store: Store | { accounts: AccountStore }, login: string, password: string, deps: AuthDeps = defaultDeps): Promise<User | null> {
  const parsed = tryParseAddress(login);
  const user = parsed ? await store.accounts.getUser(parsed.address) : null;
  // An unknown login, and an account whose stored hash cannot be used (imported without a usable
  // password): the same dummy comparison, so neither answers faster than a wrong password.
  if (!user || !isSupportedHash(user.passwordHash)) {
    await deps.verify(DUMMY_PASSWORD_HASH, password);
    return null;
  }
  if (!(await verifyAtFullCost(user.passwordHash, password, deps))) return null;
  if (needsRehash(user.passwordHash)) {
    try {
      return await store.accounts.updateUser(user.address, { passwordHash: await hashPassword(password) });
    } catch {
      // The login is good either way; the upgrade is retried at the next login.
      return user;
    }
  }
  return user;
}

/**
 * Verifies a password against a user's stored hash in no less time than the unknown-login path takes.
 *
 * A hash imported from Dovecot and not yet upgraded (cost-5 bcrypt, 5000-round SHA-crypt) answers a wrong
 * password in 2-15 ms where the dummy cost-12 comparison takes ~250 ms: on its own it would tell anyone
 * which addresses exist. So such a check also runs the dummy comparison, and runs it alongside rather than
 * after: the cheap check finishes on another thread (libuv's pool, the SHA-crypt worker) while the dummy
 * runs, so the answer comes when the dummy's does, as for an unknown login, instead of a cheap check later.
 * The extra work happens once per imported account: its first successful login replaces the hash.
 */
async function verifyAtFullCost(stored: string, password: string, deps: AuthDeps): Promise<boolean> {
  if (!needsRehash(stored)) return deps.verify(stored, password);
  const [matches] = await Promise.all([deps.verify(stored, password), deps.verify(DUMMY_PASSWORD_HASH, password)]);
  return matches;
}

/**
 * May this authenticated user use `address` as envelope sender / From (Postfix reject_sender_login_mismatch
 * with a sender login map built from the users and aliases)? Yes for: their own address and its +tag forms;
 * addresses listed in user.sendAs (a "@domain" entry allows the whole domain); any address of ours that
 * resolves to them (a one-to-one or one-to-many alias that includes them, the catch-all of a domain whose
 * catch-all goes to them). Everything when user.enforceSender is false.
 */
export async function maySendAs(store: Store | { accounts: AccountStore }, user: User, address: string): Promise<boolean> {
  if (!user.enforceSender) return true;
  const parsed = tryParseAddress(address);
  if (!parsed) return false;
  if (parsed.address === user.address) return true;
  const { user: base, detail } = splitSubaddress(parsed.local);
  if (detail !== null && `${base}@${parsed.domain}` === user.address) return true;
  for (const entry of user.sendAs) {
    const e = entry.trim().toLowerCase();
    if (e.startsWith('@') ? domainOf(parsed.address) === normalizeSafe(e.slice(1)) : tryParseAddress(e)?.address === parsed.address) return true;
  }
  const resolution = await resolveRecipient(store, parsed.address);
  return resolution.status === 'local' && resolution.users.some((u) => u.userId === user.id);
}

function normalizeSafe(domain: string): string | null {
  try {
    return normalizeDomain(domain);
  } catch {
    return null;
  }
}
