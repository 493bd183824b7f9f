// server: the composition root. Builds the Runtime, starts the admin socket and every configured
// listener (they answer with temporary failures while the vault is locked), unlocks the vault on request,
// then starts the services that need the store. Owns the process's lifecycle; holds no protocol logic.
export { startServer, type RunningServer, type ServerStatus } from './server.ts';
export { loadTls, makeSelfSigned } from './tls.ts';
