/** Picks the adapter implementation for an adapter config row. */
import type { Db } from '../db/client.js';
import { createMockAdapter } from './mock/mock-adapter.js';
import { AdapterError, type AdServerAdapter } from './port.js';
import { openAdapterSettings, secretBox, SecretKeyError } from '../services/secret-box.js';

export interface AdapterConfigLike {
  id: string;
  adapterType: string;
  settings: Record<string, unknown>;
}

export type AdapterFactory = (config: AdapterConfigLike) => AdServerAdapter;

/** Adapters get their settings with credentials opened (they are sealed at rest). */
export function createAdapterRegistry(db: Db): AdapterFactory {
  return (config) => {
    let settings: Record<string, unknown>;
    try {
      settings = openAdapterSettings(secretBox(), config.id, config.settings);
    } catch (err) {
      // Retried with backoff: the operator may restart with the right SALES_AGENT_SECRET_KEY meanwhile.
      if (err instanceof SecretKeyError) throw new AdapterError(`adapter ${config.id}: ${err.message}`, false);
      throw err;
    }
    switch (config.adapterType) {
      case 'mock':
        return createMockAdapter(db, settings);
      default:
        throw new AdapterError(`no adapter implementation for type "${config.adapterType}"`, true);
    }
  };
}
