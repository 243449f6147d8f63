export * from './tenants.js';
export * from './inventory.js';
export * from './media-buys.js';
export * from './creatives.js';
export * from './workflow.js';
export * from './mock-ad-server.js';
export * from './workers.js';
export * from './console.js';
