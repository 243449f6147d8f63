/**
 * Telling a broken database connection from other failures (a task runs again at once only for the former),
 * and logging errors with their causes (Drizzle keeps the driver's reason only there).
 */
import { DrizzleQueryError } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { brokenDatabaseConnection, brokenDatabaseQuery } from '../../src/db/client.js';
import { graphileLogger } from '../../src/jobs/worker.js';
import { createLogger } from '../../src/logger.js';

const pgError = (code: string, message: string) => Object.assign(new Error(message), { name: 'PostgresError', code });

describe('brokenDatabaseConnection', () => {
  it('is true for a query that failed because Postgres went away, wrapped by Drizzle or not', () => {
    expect(brokenDatabaseConnection(new DrizzleQueryError('select 1', [], pgError('57P01', 'terminating connection due to administrator command')))).toBe(true);
    expect(brokenDatabaseConnection(new DrizzleQueryError('select 1', [], pgError('57P03', 'the database system is starting up')))).toBe(true);
    expect(brokenDatabaseConnection(new DrizzleQueryError('select 1', [], pgError('08006', 'connection failure')))).toBe(true);
    expect(brokenDatabaseConnection(Object.assign(new Error('write CONNECTION_CLOSED 127.0.0.1:5432'), { code: 'CONNECTION_CLOSED' }))).toBe(true);
    expect(brokenDatabaseConnection(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))).toBe(true);
  });

  it('is false for other database errors, for refused connections elsewhere, and for message text alone', () => {
    expect(brokenDatabaseConnection(new DrizzleQueryError('insert', [], pgError('23505', 'duplicate key value violates unique constraint')))).toBe(false);
    // A webhook or an ad server's API refusing the connection: fetch wraps the socket error.
    expect(brokenDatabaseConnection(new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' }) }))).toBe(false);
    expect(brokenDatabaseConnection(new Error('transient adapter failure: terminating connection'))).toBe(false);
    expect(brokenDatabaseConnection(undefined)).toBe(false);
    expect(brokenDatabaseConnection('57P01')).toBe(false);
  });
});

describe('brokenDatabaseQuery (an adapter failure taken for our database)', () => {
  it('is true only for a query made through Drizzle: a raw refused socket from an adapter is the ad server', () => {
    expect(brokenDatabaseQuery(new DrizzleQueryError('insert', [], pgError('57P01', 'terminating connection due to administrator command')))).toBe(true);
    expect(brokenDatabaseQuery(Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' }))).toBe(false);
    expect(brokenDatabaseQuery(new DrizzleQueryError('insert', [], pgError('23505', 'duplicate key value violates unique constraint')))).toBe(false);
  });
});

describe('logging an error', () => {
  it('keeps its code and its causes, and nothing else of them (no stray secret)', () => {
    const lines: string[] = [];
    const log = createLogger('info', {}, (l) => void lines.push(l));
    const cause = Object.assign(pgError('57P01', 'terminating connection due to administrator command'), { password: 'hunter2' });
    log.error('task failed', { error: new DrizzleQueryError('select 1', [], cause) });
    const rec = JSON.parse(lines[0]!) as { error: { message: string; cause: { code: string; message: string; password: string } } };
    expect(rec.error.message).toContain('Failed query: select 1');
    expect(rec.error.cause).toMatchObject({ code: '57P01', message: 'terminating connection due to administrator command' });
    expect(lines[0]).not.toContain('hunter2');
  });

  it('keeps a failed query but not its parameters (buyer data, webhook credentials), in the message and the stack', () => {
    const lines: string[] = [];
    const log = createLogger('info', {}, (l) => void lines.push(l));
    const params = ['mb_1', '{"authentication":{"credentials":"SUPERSECRETCRED-1"},"token":"VALIDTOKEN-1"}'];
    log.error('tool call failed', { error: new DrizzleQueryError('insert into workflow_steps (id, push_notification_config) values ($1, $2)', params, pgError('22P05', 'unsupported Unicode escape sequence')) });
    const rec = JSON.parse(lines[0]!) as { error: { message: string; stack: string; cause: { code: string } } };
    expect(rec.error.message).toBe('Failed query: insert into workflow_steps (id, push_notification_config) values ($1, $2)\nparams: [2 not logged]');
    expect(rec.error.stack).toContain('params: [2 not logged]');
    expect(rec.error.cause.code).toBe('22P05');
    for (const secret of ['SUPERSECRETCRED-1', 'VALIDTOKEN-1', 'mb_1']) expect(lines[0]).not.toContain(secret);
  });
});

describe('Graphile Worker’s log', () => {
  it('reports a failed attempt that will be retried as a warning, and the last one as an error', () => {
    const lines: string[] = [];
    const gw = graphileLogger(createLogger('info', {}, (l) => void lines.push(l)));
    gw.error('Failed task 1 (deliver_webhook, 3.00ms, attempt 1 of 5) with error', { failure: true, job: { attempts: 1, max_attempts: 5 } });
    gw.error('Failed task 1 (deliver_webhook, 3.00ms, attempt 5 of 5) with error', { failure: true, job: { attempts: 5, max_attempts: 5 } });
    gw.error('Something else broke', {});
    expect(lines.map((l) => (JSON.parse(l) as { level: string }).level)).toEqual(['warn', 'error', 'error']);
  });

  it('keeps no query parameter that a failed task quotes, in its message or its job', () => {
    const lines: string[] = [];
    const gw = graphileLogger(createLogger('info', {}, (l) => void lines.push(l)));
    const quoted = "Failed query: insert into webhook_deliveries values ($1, $2)\nparams: whd_1,{\"credentials\":\"SUPERSECRETCRED-2\"}";
    gw.error(`Failed task 7 (sync_media_buy_update, 3.00ms, attempt 5 of 5) with error '${quoted}':\n  Error: ${quoted}\n    at x`, { failure: true, job: { attempts: 5, max_attempts: 5, last_error: quoted } });
    expect(lines[0]).not.toContain('SUPERSECRETCRED-2');
    expect(lines[0]).toContain('params: [not logged]');
  });
});
