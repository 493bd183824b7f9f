// Which listeners and services the server starts, in one place. Listeners start while locked (they answer
// with temporary failures until the store is open); services start at unlock because they need the store.
import type { Runtime } from '../runtime/index.ts';
import type { Store } from '../store/types.ts';
import type { AdminServer, AdminHandler } from '../admin/index.ts';

export interface ListenerHandle {
  listening: { name: string; address: string; port: number }[];
  close(): Promise<void>;
}

export interface ServiceHandle {
  adminHandlers?: Record<string, AdminHandler>;
  close(): Promise<void>;
}

export async function startListeners(runtime: Runtime, admin: AdminServer): Promise<ListenerHandle[]> {
  void admin;
  const started: ListenerHandle[] = [];
  void runtime;
  return started;
}

export async function startServices(runtime: Runtime, store: Store): Promise<ServiceHandle[]> {
  void runtime;
  void store;
  return [];
}
