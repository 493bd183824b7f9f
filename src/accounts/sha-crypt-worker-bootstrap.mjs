// Entry point of the SHA-crypt verification thread. Worker threads do not inherit tsx's loader from the
// main thread, so this plain-JS file registers it before importing the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./sha-crypt-worker.ts');
