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

export interface AdapterOrderRequest {
  idempotencyKey: string;
  mediaBuyId: string;
  advertiser: { principalId: string; name: string; externalId?: string };
  currency: string;
  totalBudget: string;
  startTime: Date;
  endTime: Date;
  buyerRef: string | null;
  packages: AdapterPackage[];
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

export interface AdServerAdapter {
  readonly type: string;
  createOrder(req: AdapterOrderRequest, signal?: AbortSignal): Promise<AdapterOrderResult>;
  /** Bring an existing order in line with the buy (pause, resume, dates, budgets, cancel). */
  updateOrder(req: AdapterOrderUpdate, signal?: AbortSignal): Promise<void>;
  /** Delivery per package per day for an order. Read-only, so safe to repeat. Days without delivery may be left out. */
  getDelivery(req: AdapterDeliveryRequest, signal?: AbortSignal): Promise<AdapterDeliveryRow[]>;
}
