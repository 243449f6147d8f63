/** Picks the adapter implementation for an adapter config row. */
import type { Db } from '../db/client.js';
import { createMockAdapter } from './mock/mock-adapter.js';
import { AdapterError, type AdServerAdapter } from './port.js';
import { openAdapterSettings, secretBox, SecretKeyError } from '../services/secret-box.js';
import type { Logger } from '../logger.js';

export interface AdapterConfigLike {
  id: string;
  adapterType: string;
  settings: Record<string, unknown>;
}

export type AdapterFactory = (config: AdapterConfigLike) => AdServerAdapter;

/** Adapters get their settings with credentials opened (they are sealed at rest). */
export function createAdapterRegistry(db: Db, logger?: Logger): AdapterFactory {
  return (config) => {
    let settings: Record<string, unknown>;
    try {
      settings = openAdapterSettings(secretBox(), config.id, config.settings);
    } catch (err) {
      if (!(err instanceof SecretKeyError)) throw err;
      // The detail is the seller's (the log); the reason may reach the buyer. Retried with backoff.
      logger?.error('adapter credentials could not be opened', { adapter_config_id: config.id, error: err.message });
      throw new AdapterError("the seller's ad server credentials could not be read", false);
    }
    switch (config.adapterType) {
      case 'mock':
        return createMockAdapter(db, settings);
      default:
        throw new AdapterError(`no adapter implementation for type "${config.adapterType}"`, true);
    }
  };
}
