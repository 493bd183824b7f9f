// Entry point of the store's writer thread. Worker threads do not inherit tsx's loader from the main
// thread, so this plain-JS file registers it before importing the TypeScript worker (works the same under
// `node --import tsx`, `node --import tsx --test` and `npm start`).
import { register } from 'tsx/esm/api';

register();
await import('./writer-worker.ts');
