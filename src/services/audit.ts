/**
 * The audit trail of buying tool calls, kept off the request path: a call adds
 * an entry to an in-memory buffer and returns; the buffer is written as one
 * multi-row insert when it fills or a moment later, and on shutdown. What a
 * crash can lose is the last fraction of a second of entries; the calls
 * themselves (buys, steps, idempotency records) are in Postgres regardless.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { insertAuditBatch, type AuditEntry } from '../db/queries/audit.js';
import { refusedValue, type Db } from '../db/client.js';
import { storable } from '../domain/text.js';
import type { Logger } from '../logger.js';

const FLUSH_AFTER_MS = 200;
const FLUSH_AT = 500;
/** Past this many unwritten entries (database down), new ones are counted and dropped. */
const MAX_BUFFER = 50_000;

/**
 * A string from the call, fit for the audit row. Buyers choose these (a media_buy_id, an idempotency_key), even
 * in calls that fail validation: NUL and lone surrogates cannot be stored in text or jsonb (one would fail the
 * whole batch), and the row keeps at most 255 characters (cut first: a cut may split a surrogate pair).
 */
const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? storable(v.slice(0, 255)) : undefined);

export interface ToolCallCaller {
  tenant?: { id: string };
  principal?: { id: string };
}

export class AuditTrail {
  private buffer: AuditEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private dropped = 0;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
  ) {}

  /** A buying tool call: who, which tool, on what, and how it ended. Arguments are not kept (they may carry webhook credentials). */
  toolCall(tool: string, args: unknown, result: CallToolResult, caller: ToolCallCaller): void {
    if (!caller.tenant) return;
    const a = (args && typeof args === 'object' ? args : {}) as Record<string, unknown>;
    const r = (result.structuredContent ?? {}) as Record<string, unknown>;
    const error = result.isError ? ((r.errors as { code?: string }[] | undefined)?.[0]?.code ?? 'ERROR') : undefined;
    const details: Record<string, unknown> = {};
    if (error) details.error_code = error;
    if (str(a.idempotency_key)) details.idempotency_key = str(a.idempotency_key);
    if (str(r.status)) details.status = str(r.status);
    if (str(r.task_id)) details.task_id = str(r.task_id);
    if (r.replayed === true) details.replayed = true;
    this.add({
      tenantId: caller.tenant.id,
      principalId: caller.principal?.id ?? null,
      actor: caller.principal ? `buyer:${caller.principal.id}` : 'anonymous',
      operation: `mcp:${tool}`,
      target: str(r.media_buy_id) ?? str(a.media_buy_id) ?? str(r.task_id) ?? null,
      success: !result.isError,
      details,
      at: new Date(),
    });
  }

  add(entry: AuditEntry): void {
    if (this.buffer.length >= MAX_BUFFER) {
      this.dropped++;
      return;
    }
    this.buffer.push(entry);
    if (this.buffer.length >= FLUSH_AT) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), FLUSH_AFTER_MS).unref();
  }

  /** Write what is buffered; resolves when it (and any write before it) is done. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.buffer;
    this.buffer = [];
    if (batch.length === 0) return this.writing;
    this.writing = this.writing.then(() =>
      insertAuditBatch(this.db, batch).catch(async (err) => {
        if (refusedValue(err)) return this.writeOneByOne(batch, err);
        // The database is away or busy: keep the entries for the next flush.
        this.requeue(batch);
        this.logger.warn('audit trail write failed; will retry', { entries: batch.length, error: err });
      }),
    );
    if (this.dropped > 0) {
      this.logger.warn('audit trail buffer full; entries dropped', { dropped: this.dropped });
      this.dropped = 0;
    }
    return this.writing;
  }

  /** Entries not written, back at the head of the buffer (as many as it has room for), and a flush in 5 s. */
  private requeue(entries: AuditEntry[]): void {
    this.buffer.unshift(...entries.slice(0, Math.max(0, MAX_BUFFER - this.buffer.length)));
    this.timer ??= setTimeout(() => void this.flush(), 5_000).unref();
  }

  /**
   * A batch Postgres refused for a value in it would be refused on every retry, and every entry after it
   * would join it: its entries are written one by one, and those refused are dropped (counted, not logged);
   * any other failure keeps the rest for the next flush.
   */
  private async writeOneByOne(batch: AuditEntry[], err: unknown): Promise<void> {
    let refused = 0;
    for (let i = 0; i < batch.length; i += 1) {
      try {
        await insertAuditBatch(this.db, [batch[i]!]);
      } catch (one) {
        if (!refusedValue(one)) {
          this.requeue(batch.slice(i));
          break;
        }
        refused++;
      }
    }
    if (refused > 0) this.logger.warn('audit entries refused by the database; dropped', { refused, of: batch.length, error: err });
  }

  async close(): Promise<void> {
    await this.flush();
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
