// dns: the one resolver layer for everything (SMTP checks, SPF/DKIM/DMARC through mailauth, MX lookup of
// the outbound queue): a caching stub resolver over configurable upstream recursive resolvers.
// Owns: DNS queries on the wire (UDP, TCP on truncation), the answer cache (TTLs, RFC 2308 negative
// caching, bounded size), and the error codes that tell permanent from temporary failures.
// Never: resolves through node's getaddrinfo (it hides TTLs and temporary failures), or imports a protocol.
//
// Implementation notes:
// - Concurrent lookups of the same name and type share one query.
// - Replies are accepted only from the server asked, with the query's random id and question (RFC 5452).
// - Typed lookups return [] for NODATA; mailauth's adapter throws ENODATA as node:dns would.
// - Results computed from answers (SPF, DMARC) can be cached beside them (derived.ts): reused only while
//   every answer they came from is still cached.
export { createResolver, reverseName } from './resolver.ts';
export type { Resolver, ResolverOptions, MxRecord } from './resolver.ts';
export { DnsError } from './errors.ts';
export type { DnsErrorCode } from './errors.ts';
export { DerivedCache, DEFAULT_DERIVED_ENTRIES } from './derived.ts';
export type { AnswerTracker } from './resolver.ts';
