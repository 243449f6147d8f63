/**
 * The ad-server port. Adapters are output channels: they run only inside worker
 * tasks, never in a request. Every call carries an idempotency key derived from
 * our ids, so a retried job gets the order it already made instead of a second one.
 */
export interface AdapterPackage {
  packageId: string;
  productId: string;
  budget: string;
  bidPrice: string | null;
  /** The agreed unit price: the fixed price, or the bid for auction pricing. */
  rate: string | null;
  pricingModel: string;
  impressions: string | null;
  targeting: Record<string, unknown> | null;
  formatIds: Record<string, unknown>[] | null;
}

export interface AdapterAdvertiser {
  principalId: string;
  name: string;
  /** The buyer's id at this ad server (principals.platform_mappings), when the seller set one. */
  externalId?: string;
}

export interface AdapterOrderRequest {
  idempotencyKey: string;
  mediaBuyId: string;
  advertiser: AdapterAdvertiser;
  currency: string;
  totalBudget: string;
  startTime: Date;
  endTime: Date;
  buyerRef: string | null;
  /** Booked paused when the buyer created (or has since paused) the buy paused; delivery waits for an update to active. */
  status: 'active' | 'paused';
  /** The live packages (canceled ones are not booked); a paused one is booked but does not deliver. */
  packages: (AdapterPackage & { status: 'active' | 'paused' })[];
}

export interface AdapterOrderResult {
  externalOrderId: string;
  /** package id -> the ad server's line item id */
  lineItemIds: Record<string, string>;
}

/** An adapter failure. `permanent` ones are not retried (bad request, policy rejection...). */
export class AdapterError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'AdapterError';
  }
}

export interface AdapterOrderUpdate {
  /** Unique per change (our workflow step id), so a retried update is applied once. */
  idempotencyKey: string;
  externalOrderId: string;
  mediaBuyId: string;
  /** The buy as it now stands; adapters converge the order to it. */
  status: 'active' | 'paused' | 'canceled';
  startTime: Date;
  endTime: Date;
  packages: (AdapterPackage & { status: string })[];
}

export interface AdapterDeliveryRequest {
  externalOrderId: string;
  mediaBuyId: string;
  packages: { packageId: string; lineItemId?: string }[];
  /** Reporting window; every UTC day that overlaps [from, to] is reported in full. */
  from: Date;
  to: Date;
}

/** One package's delivery on one UTC day, as the ad server counts it so far (a later report may restate it). */
export interface AdapterDeliveryRow {
  packageId: string;
  /** YYYY-MM-DD, UTC */
  day: string;
  impressions: number;
  clicks: number;
  videoCompletions?: number;
  /** Decimal string in the order's currency. */
  spend: string;
}

/** Compensation: undo what a create with this idempotency key made. */
export interface AdapterCancelRequest {
  /** The key the order was (or may have been) created with. Nothing made under it: nothing to do. */
  idempotencyKey: string;
  /** The order's id, when we recorded one. */
  externalOrderId: string | null;
  mediaBuyId: string;
}

/** A buyer's creative as the ad server receives it. */
export interface AdapterCreativeUpload {
  /** Derived from our ids (principal, creative, adapter): a repeated upload updates the same creative. */
  idempotencyKey: string;
  advertiser: AdapterAdvertiser;
  creative: { creativeId: string; name: string; formatId: { agent_url: string; id: string }; assets: Record<string, unknown> };
}

/** The creatives each line item of an order should run, in full: line items left empty run none. */
export interface AdapterCreativeAssignment {
  idempotencyKey: string;
  externalOrderId: string;
  mediaBuyId: string;
  lineItems: { packageId: string; lineItemId: string | null; creatives: { externalCreativeId: string; weight: number | null }[] }[];
}

export interface AdServerAdapter {
  readonly type: string;
  createOrder(req: AdapterOrderRequest, signal?: AbortSignal): Promise<AdapterOrderResult>;
  /** Bring an existing order in line with the buy (pause, resume, dates, budgets, cancel). */
  updateOrder(req: AdapterOrderUpdate, signal?: AbortSignal): Promise<void>;
  /** Delivery per package per day for an order. Read-only, so safe to repeat. Days without delivery may be left out. */
  getDelivery(req: AdapterDeliveryRequest, signal?: AbortSignal): Promise<AdapterDeliveryRow[]>;
  /** Cancel the order a create with this key made, if it made one (compensation when another part of the buy failed). Safe to repeat. */
  cancelOrder(req: AdapterCancelRequest, signal?: AbortSignal): Promise<void>;
  /** Create or update a creative at the ad server; returns its id there. Safe to repeat. */
  uploadCreative(req: AdapterCreativeUpload, signal?: AbortSignal): Promise<{ externalCreativeId: string }>;
  /** Set which uploaded creatives each line item of an order runs. Safe to repeat. */
  assignCreatives(req: AdapterCreativeAssignment, signal?: AbortSignal): Promise<void>;
}
