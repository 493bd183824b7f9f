// An in-memory SecretStore with the contract's semantics, for DKIM unit tests that need no vault.
import type { SecretStore } from '../../src/store/types.ts';

export function memorySecrets(): SecretStore {
  const map = new Map<string, Buffer>();
  return {
    async get(name) {
      return map.get(name) ?? null;
    },
    async put(name, value) {
      map.set(name, Buffer.from(value));
    },
    async delete(name) {
      return map.delete(name);
    },
    async list(prefix) {
      return [...map.keys()].filter((k) => k.startsWith(prefix)).sort();
    },
  };
}
