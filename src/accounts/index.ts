// accounts: domains, users, aliases as the protocols see them. A service between the listeners and the
// store.
// Owns: address syntax and canonical spelling; password hashing and verification (bcrypt, and Dovecot's
// passwd-file schemes as imported); login; recipient resolution (aliases, catch-alls, user+tag); the
// sender-address check; import from a Postfix + Dovecot installation and export to plain Maildir++.
// Never: writes SQL (the store keeps users, aliases and mail), imports a protocol module, logs a password.
//
// Implementation notes:
// - A failed login costs the same whether or not the account exists: an unknown one runs a dummy bcrypt
//   compare at cost 12, and so does (alongside its own check) an imported hash cheaper than that.
// - Password hashing runs off the event loop (native bcrypt on libuv's pool).
// - Every address is compared in its canonical spelling (address.ts) so "Admin@Example.ORG" is one user.
export {
  AddressError,
  domainOf,
  MAX_ADDRESS_OCTETS,
  MAX_LOCAL_PART_OCTETS,
  normalizeAddress,
  normalizeAliasSource,
  normalizeDomain,
  normalizeLocalPart,
  parseAddress,
  splitSubaddress,
  SUBADDRESS_DELIMITER,
  tryParseAddress,
  type ParsedAddress,
} from './address.ts';
export {
  BCRYPT_COST,
  DUMMY_PASSWORD_HASH,
  hashPassword,
  isSupportedHash,
  MAX_PASSWORD_BYTES,
  needsRehash,
  parseStoredHash,
  PasswordSchemeError,
  verifyPassword,
  type PasswordScheme,
} from './password.ts';
export { authenticate, isLocalDomain, maySendAs, resolveRecipient, MAX_ALIAS_DEPTH, MAX_ALIAS_EXPANSION, type AuthDeps, type LocalRecipient, type Resolution } from './resolve.ts';
export { importPostfixDovecot, LOCKED_PASSWORD, type ImportOptions, type ImportReport, type ImportSources } from './import.ts';
export { exportMaildir, importFolder, readMaildirTree, type ExportResult } from './maildir.ts';
export { formatSize, parseSize, SizeError } from './size.ts';
