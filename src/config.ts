/**
 * The only reader of process.env. Everything else receives a parsed Config,
 * so tests and the CLI can build one without touching the environment.
 */
import path from 'node:path';
import { z } from 'zod';
import { parseSecretKeys } from './services/secret-box.js';

const LogLevel = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']);
export type LogLevel = z.infer<typeof LogLevel>;

/** How long history is kept, in days; 0 keeps it for ever. The hourly prune_history task applies it. */
export interface Retention {
  /** Ended webhook deliveries (delivered or given up) and their attempt logs, counted from their creation. */
  webhookDeliveryDays: number;
  /** audit_log rows: console actions and buying tool calls. */
  auditLogDays: number;
}

export const DEFAULT_RETENTION: Retention = { webhookDeliveryDays: 30, auditLogDays: 0 };

const EnvSchema = z.object({
  DATABASE_URL: z.string().min(1).optional(),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  SALES_AGENT_DATA_DIR: z.string().min(1).default('./.data'),
  LOG_LEVEL: LogLevel.default('info'),
  SALES_AGENT_TOKEN: z.string().min(1).optional(),
  SALES_AGENT_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(4096).default(16),
  SALES_AGENT_DB_POOL: z.coerce.number().int().min(1).max(200).default(10),
  SALES_AGENT_MAX_SESSIONS: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  SALES_AGENT_PUBLIC_URL: z.string().url().optional(),
  SALES_AGENT_METRICS_TOKEN: z.string().min(16, 'use at least 16 characters').optional(),
  SALES_AGENT_SECRET_KEY: z
    .string()
    .min(1)
    .superRefine((v, ctx) => {
      try {
        parseSecretKeys(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message.replace(/^SALES_AGENT_SECRET_KEY: /, '') });
      }
    })
    .optional(),
  SALES_AGENT_WEBHOOK_RETENTION_DAYS: z.coerce.number().int().min(0).max(36_500).default(DEFAULT_RETENTION.webhookDeliveryDays),
  SALES_AGENT_AUDIT_RETENTION_DAYS: z.coerce.number().int().min(0).max(36_500).default(DEFAULT_RETENTION.auditLogDays),
});

export interface Config {
  databaseUrl: string | undefined;
  host: string;
  port: number;
  dataDir: string;
  logLevel: LogLevel;
  token: string | undefined;
  workerConcurrency: number;
  dbPoolSize: number;
  /** Live MCP sessions one process keeps in memory (src/mcp/http.ts MAX_SESSIONS). */
  maxSessions: number;
  publicUrl: string | undefined;
  /** Seals secrets at rest (src/services/secret-box.ts): 32 bytes, base64 or hex; comma-separated to rotate. */
  secretKey: string | undefined;
  /** Bearer token for GET /metrics; unset: loopback peers only. */
  metricsToken: string | undefined;
  retention: Retention;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`Invalid environment:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  return {
    databaseUrl: e.DATABASE_URL,
    host: e.HOST,
    port: e.PORT,
    dataDir: path.resolve(e.SALES_AGENT_DATA_DIR),
    logLevel: e.LOG_LEVEL,
    token: e.SALES_AGENT_TOKEN,
    workerConcurrency: e.SALES_AGENT_WORKER_CONCURRENCY,
    dbPoolSize: e.SALES_AGENT_DB_POOL,
    maxSessions: e.SALES_AGENT_MAX_SESSIONS,
    publicUrl: e.SALES_AGENT_PUBLIC_URL,
    secretKey: e.SALES_AGENT_SECRET_KEY,
    metricsToken: e.SALES_AGENT_METRICS_TOKEN,
    retention: { webhookDeliveryDays: e.SALES_AGENT_WEBHOOK_RETENTION_DAYS, auditLogDays: e.SALES_AGENT_AUDIT_RETENTION_DAYS },
  };
}
