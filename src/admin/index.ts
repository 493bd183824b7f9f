// admin: the local control socket, like doveadm's and postqueue's. The server listens on a unix socket only
// its owner can open; CLI commands call named methods on it, and the store's own methods through a proxy.
// Owns: the wire format, the socket server and client. Knows nothing of what the methods do.
export { startAdminServer, AdminSocketError, type AdminServer, type AdminHandler } from './server.ts';
export { connectAdmin, AdminCallError, type AdminClient } from './client.ts';
export { remoteStore, storeHandlers } from './store-proxy.ts';
