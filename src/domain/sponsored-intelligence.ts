/**
 * Sponsored Intelligence rules, pure. This agent speaks for the publisher: a
 * host relays what its user is after, and the agent answers from the
 * publisher's offerings (its products), ranked by the words of each turn, as
 * text plus product cards. Also: the capabilities a session runs with, the
 * session lifecycle and its errors.
 */
import type { ProductWithPricing } from '../db/queries/inventory.js';
import { AdcpError } from './errors.js';
import { compareAmounts } from './money.js';
import { briefTerms, scoreProduct } from './products.js';

export const SI_SESSION_TTL_SECONDS = 1800;
/** Offering details may be cached by the host this long. */
export const SI_OFFERING_TTL_SECONDS = 300;
/** Product cards in one answer. */
const MAX_CARDS = 3;

export type SiSessionStatus = 'active' | 'pending_handoff' | 'complete' | 'terminated';
export type TerminationReason = 'handoff_transaction' | 'handoff_complete' | 'user_exit' | 'session_timeout' | 'host_terminated';

/** Standard components this agent emits; text and product cards carry every answer. */
const COMPONENTS = ['text', 'link', 'product_card'];

/** What this agent can do in a session: text conversation with standard components; no voice, video, avatar or checkout. */
export const AGENT_CAPABILITIES = {
  modalities: { conversational: true, voice: false, video: false, avatar: false },
  components: { standard: COMPONENTS },
  commerce: { acp_checkout: false },
  a2ui: { supported: false },
  mcp_apps: false,
};

/**
 * The capabilities a session runs with: ours, narrowed to the standard
 * components the host says it renders (hosts that say nothing render them all,
 * as the standard requires).
 */
export function negotiateCapabilities(host: { components?: { standard?: unknown } } | undefined): Record<string, unknown> {
  const hostStandard = host?.components?.standard;
  const standard = Array.isArray(hostStandard) ? COMPONENTS.filter((c) => hostStandard.includes(c)) : COMPONENTS;
  // Text is the baseline modality: always there.
  return { ...AGENT_CAPABILITIES, components: { standard: standard.includes('text') ? standard : ['text', ...standard] } };
}

/** A handoff ends the session normally (complete); any other reason terminates it. */
export function statusAfterTermination(reason: TerminationReason): 'complete' | 'terminated' {
  return reason === 'handoff_transaction' || reason === 'handoff_complete' ? 'complete' : 'terminated';
}

export const isEnded = (status: string) => status === 'complete' || status === 'terminated';

/** A price line for a product card, from its cheapest pricing option (display only: the amounts stay decimal strings until here). */
export function priceHint(p: ProductWithPricing): string {
  const priced = p.pricing
    .map((po) => ({ po, amount: po.fixedPrice ?? po.floorPrice, fixed: po.fixedPrice != null }))
    .filter((x): x is typeof x & { amount: string } => x.amount != null)
    .sort((a, b) => compareAmounts(a.amount, b.amount));
  const best = priced[0];
  if (!best) return 'Price on request';
  const price = `${Number(best.amount).toFixed(2)} ${best.po.currency} ${best.po.pricingModel.toUpperCase()}`;
  return best.fixed ? price : `from ${price} (auction)`;
}

export function productCard(p: ProductWithPricing): Record<string, unknown> {
  return {
    type: 'product_card',
    data: {
      title: p.name,
      subtitle: `${p.channels.join(', ')} · ${p.deliveryType === 'guaranteed' ? 'guaranteed' : 'non-guaranteed'}`,
      price: priceHint(p),
      description: p.description,
      product_id: p.id,
    },
  };
}

/** Products that match the words of a turn, best first; none when no word matches. */
export function matchingProducts(products: ProductWithPricing[], text: string): ProductWithPricing[] {
  const terms = briefTerms(text);
  return products
    .map((product) => ({ product, score: scoreProduct(product, terms).score }))
    .filter((x) => x.score > 0)
    .sort((a, b) => b.score - a.score || a.product.id.localeCompare(b.product.id))
    .map((x) => x.product);
}

export interface AgentAnswer {
  message: string;
  ui_elements: Record<string, unknown>[];
}

/**
 * The agent's answer to one turn: the products the turn names (featured: an
 * offering, a product the user picked) and those its words match, or, when
 * there are none, the ones the session's intent matched; as a short message
 * and product cards the host can render.
 */
export function answer(p: { seller: string; products: ProductWithPricing[]; text: string; intent: string; components: string[]; featured?: ProductWithPricing[] }): AgentAnswer {
  const featured = p.featured ?? [];
  const found = matchingProducts(p.products, p.text);
  const direct = [...featured, ...found.filter((x) => !featured.includes(x))];
  const hits = (direct.length > 0 ? direct : matchingProducts(p.products, p.intent)).slice(0, MAX_CARDS);
  const cards = p.components.includes('product_card') ? hits.map(productCard) : [];
  if (hits.length === 0) {
    const channels = [...new Set(p.products.flatMap((x) => x.channels))].sort();
    return {
      message: `${p.seller} offers ${channels.length ? channels.join(', ') : 'no inventory at the moment'}. Tell me the audience, channel or format you have in mind and I will point you to the right placements.`,
      ui_elements: [],
    };
  }
  const names = hits.map((h) => `${h.name} (${priceHint(h)})`).join('; ');
  const lead = direct.length > 0 ? 'These placements match what you asked' : 'Nothing matches that directly; closest to what you are after';
  return { message: `${lead}: ${names}. Ask for details, or buy through create_media_buy with the product_id.`, ui_elements: cards };
}

/** The same answer for someone else's session as for one that never existed. */
export const sessionNotFound = (sessionId: string, response: Record<string, unknown>) =>
  new AdcpError('SESSION_NOT_FOUND', 'No such SI session.', {
    field: 'session_id',
    suggestion: 'Use a session_id returned to you by si_initiate_session, or start a new session.',
    response: { session_id: sessionId, ...response },
  });

export const sessionEnded = (s: { id: string; status: string; terminationReason: string | null }, response: Record<string, unknown> = {}) =>
  new AdcpError('SESSION_TERMINATED', `SI session ${s.id} has ended (${s.status}${s.terminationReason ? `: ${s.terminationReason}` : ''}) and takes no more messages.`, {
    field: 'session_id',
    suggestion: 'Start a new session with si_initiate_session.',
    response: { session_id: s.id, session_status: s.status, ...response },
  });

/**
 * offering_token: which offering and products si_get_offering showed, so the
 * session can pick up from there ("the second one"). Not a secret: it only
 * names products, and the session checks them against what the caller may see.
 */
export function offeringToken(offeringId: string, productIds: string[]): string {
  return `ofr.${Buffer.from(JSON.stringify({ o: offeringId, p: productIds })).toString('base64url')}`;
}

export function readOfferingToken(token: string): { offeringId: string; productIds: string[] } | undefined {
  if (!token.startsWith('ofr.')) return undefined;
  try {
    const v = JSON.parse(Buffer.from(token.slice(4), 'base64url').toString('utf8')) as { o?: unknown; p?: unknown };
    if (typeof v.o !== 'string' || !Array.isArray(v.p) || !v.p.every((x) => typeof x === 'string')) return undefined;
    return { offeringId: v.o, productIds: v.p as string[] };
  } catch {
    return undefined;
  }
}
