/** Every MCP tool this agent exposes, in the order tools/list shows them. */
import type { ToolDef } from '../define-tool.js';
import createMediaBuy from './create-media-buy.js';
import getAdcpCapabilities from './get-adcp-capabilities.js';
import getMediaBuys from './get-media-buys.js';
import getProducts from './get-products.js';
import listAuthorizedProperties from './list-authorized-properties.js';
import listCreativeFormats from './list-creative-formats.js';
import listCreatives from './list-creatives.js';
import syncCreatives from './sync-creatives.js';
import complyTestController from './comply-test-controller.js';
import getMediaBuyDelivery from './get-media-buy-delivery.js';
import listAccounts from './list-accounts.js';
import providePerformanceFeedback from './provide-performance-feedback.js';
import syncAccounts from './sync-accounts.js';
import syncGovernance from './sync-governance.js';
import tasksList from './tasks-list.js';
import tasksGet from './tasks-get.js';
import updateMediaBuy from './update-media-buy.js';
import siGetOffering from './si-get-offering.js';
import siInitiateSession from './si-initiate-session.js';
import siSendMessage from './si-send-message.js';
import siTerminateSession from './si-terminate-session.js';

export const TOOLS: ToolDef[] = [
  getAdcpCapabilities,
  getProducts,
  listCreativeFormats,
  listAuthorizedProperties,
  createMediaBuy,
  updateMediaBuy,
  getMediaBuys,
  getMediaBuyDelivery,
  providePerformanceFeedback,
  syncCreatives,
  listCreatives,
  syncAccounts,
  listAccounts,
  syncGovernance,
  tasksGet,
  tasksList,
  siGetOffering,
  siInitiateSession,
  siSendMessage,
  siTerminateSession,
  complyTestController,
] as ToolDef[];
