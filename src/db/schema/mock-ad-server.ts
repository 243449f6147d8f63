/**
 * The mock ad server's own storage. It stands for a remote system, so it lives in
 * its own schema and no core table refers to it. Keyed by the caller's
 * idempotency key: that is what makes a retried booking return the same order.
 */
import { integer, jsonb, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';

export const mockAdServer = pgSchema('mock_ad_server');

export const mockOrders = mockAdServer.table('orders', {
  idempotencyKey: text('idempotency_key').primaryKey(),
  orderId: text('order_id').notNull().unique(),
  advertiser: text('advertiser').notNull(),
  lineItems: jsonb('line_items').$type<Record<string, string>>().notNull(),
  request: jsonb('request').$type<Record<string, unknown>>().notNull(),
  /** How many times a create call arrived for this key (retries included). */
  calls: integer('calls').notNull().default(1),
  status: text('status').notNull().default('booked'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

/** Failed-call counter per key, for deterministic failure injection. */
export const mockAttempts = mockAdServer.table('attempts', {
  idempotencyKey: text('idempotency_key').primaryKey(),
  n: integer('n').notNull().default(0),
});

/** Creatives uploaded to the mock ad server, keyed by the caller's idempotency key (one creative per key). */
export const mockCreatives = mockAdServer.table('creatives', {
  idempotencyKey: text('idempotency_key').primaryKey(),
  creativeId: text('creative_id').notNull().unique(),
  advertiser: text('advertiser').notNull(),
  content: jsonb('content').$type<Record<string, unknown>>().notNull(),
  /** How many upload calls arrived for this key (retries included). */
  calls: integer('calls').notNull().default(1),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});
