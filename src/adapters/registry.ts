/** Picks the adapter implementation for an adapter config row. */
import type { Db } from '../db/client.js';
import { createMockAdapter } from './mock/mock-adapter.js';
import { AdapterError, type AdServerAdapter } from './port.js';

export interface AdapterConfigLike {
  id: string;
  adapterType: string;
  settings: Record<string, unknown>;
}

export type AdapterFactory = (config: AdapterConfigLike) => AdServerAdapter;

export function createAdapterRegistry(db: Db): AdapterFactory {
  return (config) => {
    switch (config.adapterType) {
      case 'mock':
        return createMockAdapter(db, config.settings);
      default:
        throw new AdapterError(`no adapter implementation for type "${config.adapterType}"`, true);
    }
  };
}
