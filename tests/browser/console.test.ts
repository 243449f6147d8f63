/**
 * The approval round trip in a real browser (Debian's headless Chromium driven
 * by playwright-core): an operator signs in, approves a buy a buyer made
 * through MCP and watches it get booked on the detail page, then rejects
 * another while the buyer's MCP client, subscribed to the buy, hears of it.
 * UPDATE_SCREENSHOTS=1 writes the queue and detail screenshots to docs/.
 */
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { LoggingMessageNotificationSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { chromium, type Browser, type Page } from 'playwright-core';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buyRequest, call, httpClient, startTestApp, waitFor, type TestApp } from '../helpers/app.js';
import { addOperator } from '../helpers/console.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available) {
  process.stderr.write(`\n[browser tests] skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)\n\n`);
}
const SHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? path.resolve(import.meta.dirname, '../../docs') : path.join(os.tmpdir(), 'sales-agent-console-shots');

let t: TestApp;
let sql: postgres.Sql;
let browser: Browser;
let page: Page;
let buyer: Client;
let password: string;

async function submit(buyerRef: string): Promise<{ taskId: string; mediaBuyId: string }> {
  const { isError, data } = await call(buyer, 'create_media_buy', buyRequest({ buyer_ref: buyerRef }));
  expect(isError, JSON.stringify(data)).toBe(false);
  const [step] = await sql`select media_buy_id from workflow_steps where id = ${data.task_id as string}`;
  return { taskId: data.task_id as string, mediaBuyId: step!.media_buy_id as string };
}

describe.skipIf(!available)('seller console in a browser', () => {
  beforeAll(async () => {
    // The mock ad server takes a moment, so the detail page shows the booking in flight first.
    t = await startTestApp({ worker: true, http: true, approval: 'manual', adapterLatencyMs: 3000 });
    sql = postgres(t.db.url, { max: 2, onnotice: () => {} });
    ({ password } = await addOperator(t.app.database.db, { tenantId: 'demo', email: 'approver@demo-news.example', role: 'admin' }));
    buyer = await httpClient(t);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await fs.mkdir(SHOTS, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await buyer?.close();
    await sql?.end();
    await t?.close();
  });

  it('signs in and approves a buy made through MCP; the detail page shows it booked', async () => {
    const approveMe = await submit('spring-launch-ctv');
    await submit('summer-sports-ctv');

    await page.goto(`${t.http!.url}/admin/queue`);
    expect(page.url()).toContain('/admin/login');
    await page.fill('input[name=email]', 'approver@demo-news.example');
    await page.fill('input[name=password]', password);
    await Promise.all([page.waitForURL('**/admin/queue'), page.click('button[type=submit]')]);
    expect(await page.locator('[data-testid=pending-buy]').count()).toBe(2);
    await page.screenshot({ path: path.join(SHOTS, 'console-queue.png'), fullPage: true });

    const card = page.locator(`section[id="${approveMe.taskId}"]`);
    await Promise.all([page.waitForURL('**/admin/queue?done=approved'), card.locator('button', { hasText: 'Approve' }).click()]);
    expect(await page.locator('[data-testid=pending-buy]').count()).toBe(1);
    expect(await page.textContent('.notice')).toContain('Approved');

    await page.goto(`${t.http!.url}/admin/media-buys/${approveMe.mediaBuyId}`);
    // Booking takes 3 s at the mock ad server: first in flight, then (the page reloads itself) fulfilled.
    expect(await page.textContent('[data-testid=fulfilment]')).toBe('in progress');
    await page.locator('[data-testid=fulfilment]', { hasText: 'fulfilled' }).waitFor({ timeout: 20_000 });
    expect(await page.textContent('[data-testid=adapter-order]')).toMatch(/booked[\s\S]*mock-order-/);
    await page.screenshot({ path: path.join(SHOTS, 'console-media-buy.png'), fullPage: true });
  });

  it('rejects with a reason, and the buyer’s subscribed MCP client receives the change', async () => {
    const [pending] = await sql`select s.id as task_id, s.media_buy_id from workflow_steps s where s.status = 'requires_approval'`;
    const mediaBuyId = pending!.media_buy_id as string;
    const uri = `media-buy://${mediaBuyId}`;
    const updates: string[] = [];
    const messages: string[] = [];
    buyer.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri);
    });
    buyer.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      messages.push(String(n.params.data));
    });
    await buyer.subscribeResource({ uri });

    await page.goto(`${t.http!.url}/admin/queue`);
    const card = page.locator(`section[id="${pending!.task_id}"]`);
    await card.locator('input[name=reason]').fill('Flight overlaps a sold-out tentpole event');
    await Promise.all([page.waitForURL('**/admin/queue?done=rejected'), card.locator('button', { hasText: 'Reject' }).click()]);
    expect(await page.locator('[data-testid=queue-empty]').count()).toBe(1);

    await waitFor(async () => updates.includes(uri) && messages.some((m) => m.includes(mediaBuyId) && m.includes('rejected')));
    const state = JSON.parse(((await buyer.readResource({ uri })).contents[0] as { text: string }).text);
    expect(state).toMatchObject({ status: 'rejected', rejection_reason: 'Flight overlaps a sold-out tentpole event' });

    await page.goto(`${t.http!.url}/admin/media-buys/${mediaBuyId}`);
    expect(await page.textContent('[data-testid=rejection-reason]')).toBe('Flight overlaps a sold-out tentpole event');
  });

  it('fits a phone screen without sideways scrolling', async () => {
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
    await phone.context().addCookies(await page.context().cookies());
    for (const p of ['/admin/queue', '/admin/media-buys', '/admin/products', '/admin/settings', '/admin/audit']) {
      await phone.goto(`${t.http!.url}${p}`);
      const overflow = (await phone.evaluate('document.documentElement.scrollWidth - window.innerWidth')) as number;
      expect(overflow, p).toBeLessThanOrEqual(0);
    }
    await phone.close();
  });
});
