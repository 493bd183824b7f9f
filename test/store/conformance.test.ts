// The Store conformance suite against the embedded SQLite store. Another backend imports
// runStoreConformance from here (or from conformance-suite.ts) with its own factory.
import { runStoreConformance } from './conformance-suite.ts';
import { makeSqliteStore } from './helpers.ts';

export { runStoreConformance } from './conformance-suite.ts';

runStoreConformance('embedded SQLite', makeSqliteStore);
