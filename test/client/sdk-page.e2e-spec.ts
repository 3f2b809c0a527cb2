import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { PublishClient } from '@herald/client';
import { launchChromium } from '../support/browser';
import { eventually } from '../support/eventually';
import { http } from '../support/http';
import { fencedBlocks } from '../support/markdown-blocks';
import { createTestApp, type TestApp } from '../support/test-app';
import { publisherToken, signToken } from '../support/tokens';

jest.setTimeout(45_000);

// Used inside page.evaluate, which runs in the browser (the test project has no DOM types).
declare const document: any;
declare const window: any;
declare function getComputedStyle(element: unknown): { backgroundColor: string };

/** Where the screenshots go: docs/images with UPDATE_SCREENSHOTS=1 (then look at them), else test-artifacts. */
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? join(__dirname, '..', '..', 'docs', 'images') : join(__dirname, '..', '..', 'test-artifacts');

/** docs/client.md's plain page, pointed at the test's Herald instead of herald.example.com. */
function plainPage(herald: TestApp): string {
  const [block] = fencedBlocks('docs/client.md', 'A plain page').filter((block) => block.info === 'html');
  expect(block.code).toContain("from 'https://herald.example.com/sdk/herald.js'");
  return block.code.replaceAll('https://herald.example.com', herald.url).replaceAll('wss://herald.example.com', herald.wsUrl.replace(/\/ws$/, ''));
}

/** An app on an origin of its own: the page under test, and the backend's token endpoint. */
async function startApp(pages: Record<string, () => string>, token: () => string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    if (request.url === '/api/herald-token') return void response.writeHead(200, { 'content-type': 'text/plain' }).end(token());
    const page = pages[request.url ?? ''];
    if (!page) return void response.writeHead(404).end();
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

/** A product page with the bell in its header, at the left or the right edge. */
const headerPage = (herald: TestApp, side: 'left' | 'right') => `<!doctype html>
<html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { margin: 0; font: 15px system-ui, sans-serif; background: Canvas; color: CanvasText; color-scheme: light dark; }
  header { display: flex; align-items: center; gap: 12px; padding: 8px 12px; border-bottom: 1px solid #8884;
    flex-direction: ${side === 'left' ? 'row' : 'row-reverse'}; }
  main { padding: 24px 12px; max-width: 640px; }
</style>
<header><herald-bell id="bell"></herald-bell><b>Acme Billing</b></header>
<main><h1>Invoices</h1><p>Your product's page. The bell sits at the ${side} edge of the header.</p></main>
<script type="module">
  import { connect } from '${herald.url}/sdk/herald.js';
  const client = connect('${herald.wsUrl}', { getToken: () => fetch('/api/herald-token').then((r) => r.text()) });
  document.getElementById('bell').client = client;
  window.bell = document.getElementById('bell');
</script>`;

describe('the SDK imported from Herald by a page on another origin', () => {
  let herald: TestApp;
  let app: { url: string; close(): Promise<void> };
  let browser: Browser;
  let publisher: PublishClient;
  let user = 'pia';
  const pageErrors: string[] = [];

  beforeAll(async () => {
    const pages: Record<string, () => string> = {
      '/plain': () => plainPage(herald),
      '/left': () => headerPage(herald, 'left'),
      '/right': () => headerPage(herald, 'right'),
    };
    app = await startApp(pages, () => signToken({ sub: user }));
    herald = await createTestApp({ ALLOWED_ORIGINS: app.url });
    publisher = new PublishClient({ baseUrl: herald.url, token: publisherToken() });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await herald?.close();
    await app?.close();
  });

  async function open(path: string, options: { width?: number; height?: number; colorScheme?: 'light' | 'dark' } = {}): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: options.width ?? 900, height: options.height ?? 600 }, colorScheme: options.colorScheme ?? 'light' });
    page.setDefaultTimeout(8_000);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`${app.url}${path}`);
    await page.locator('herald-bell[data-state="open"]').waitFor();
    return page;
  }
  afterEach(() => expect(pageErrors.splice(0)).toEqual([]));

  it("runs docs/client.md's plain page: connects with the app's token, shows a notification, marks it read", async () => {
    user = 'pia';
    const page = await open('/plain');
    await publisher.publish({ users: ['pia'], type: 'invoice.paid', payload: { title: 'Invoice paid', body: 'Invoice #7' } });
    const badge = page.locator('herald-bell .badge');
    await eventually(async () => expect(await badge.textContent()).toBe('1'));
    await expect(page.locator('herald-bell button.bell').getAttribute('aria-label')).resolves.toBe('Notifications, 1 unread');
    await expect(page.locator('herald-bell li .title').allTextContents()).resolves.toEqual(['Invoice paid']);

    await page.locator('herald-bell button.bell').click();
    await expect(page.locator('herald-bell button.bell').getAttribute('aria-expanded')).resolves.toBe('true');
    await expect(badge.isHidden()).resolves.toBe(true);
    // Read on the server at once; still shown as new while the list is open.
    await eventually(async () => expect((await http('GET', `${herald.url}/v1/inbox`, { token: signToken({ sub: 'pia' }) })).body.unread).toBe(0));
    await expect(page.locator('herald-bell li.fresh').count()).resolves.toBe(1);

    // Themed through custom properties, and light or dark by the theme attribute over the page's scheme.
    const freshBackground = () => page.locator('herald-bell li.fresh').evaluate((li) => getComputedStyle(li).backgroundColor);
    await expect(freshBackground()).resolves.toBe('rgb(221, 244, 255)');
    await page.addStyleTag({ content: 'herald-bell { --herald-unread-bg: rgb(1, 2, 3) }' });
    await expect(freshBackground()).resolves.toBe('rgb(1, 2, 3)');
    await page.addStyleTag({ content: 'herald-bell { --herald-unread-bg: initial }' });
    await page.locator('herald-bell').evaluate((bell) => bell.setAttribute('theme', 'dark'));
    await expect(freshBackground()).resolves.toBe('rgb(24, 42, 67)');
    await page.close();
  });

  it('is used by keyboard: focus moves into the list, Escape closes it and returns focus, what was new is then plain', async () => {
    user = 'quinn';
    const page = await open('/plain');
    await publisher.publish({ users: ['quinn'], type: 'mention', payload: { title: 'You were mentioned' } });
    await eventually(async () => expect(await page.locator('herald-bell .badge').textContent()).toBe('1'));
    // Announced to screen readers as it arrives.
    await expect(page.locator('herald-bell [role="status"]').textContent()).resolves.toBe('New notification: You were mentioned');

    await page.keyboard.press('Tab');
    await expect(page.evaluate(() => document.activeElement?.shadowRoot?.activeElement?.className)).resolves.toBe('bell');
    await page.keyboard.press('Enter');
    await expect(page.evaluate(() => document.activeElement?.shadowRoot?.activeElement?.id)).resolves.toBe('herald-panel');
    await expect(page.locator('herald-bell li.fresh .visually-hidden').textContent()).resolves.toBe('New: ');
    await expect(page.locator('herald-bell .panel').getAttribute('aria-labelledby')).resolves.toBe('herald-heading');

    await page.keyboard.press('Escape');
    await expect(page.locator('herald-bell .panel').isHidden()).resolves.toBe(true);
    await expect(page.locator('herald-bell button.bell').getAttribute('aria-expanded')).resolves.toBe('false');
    await expect(page.evaluate(() => document.activeElement?.shadowRoot?.activeElement?.className)).resolves.toBe('bell');
    await expect(page.locator('herald-bell li.fresh').count()).resolves.toBe(0);
    await expect(page.locator('herald-bell li.read').count()).resolves.toBe(1);

    // A click outside closes it too.
    await page.locator('herald-bell button.bell').click();
    await page.mouse.click(400, 400);
    await expect(page.locator('herald-bell .panel').isHidden()).resolves.toBe(true);
    await page.close();
  });

  const scenes = [
    { name: 'left-edge', path: '/left', width: 900, height: 560 },
    { name: 'right-edge', path: '/right', width: 900, height: 560 },
    { name: 'phone-390', path: '/right', width: 390, height: 700 },
  ] as const;
  for (const scene of scenes) {
    for (const colorScheme of ['light', 'dark'] as const) {
      it(`keeps the open list on screen: ${scene.name}, ${colorScheme}`, async () => {
        user = `shot-${scene.name}-${colorScheme}`;
        const page = await open(scene.path, { width: scene.width, height: scene.height, colorScheme });
        await fill(page, user);
        await page.locator('herald-bell button.bell').click();
        await expect(page.locator('herald-bell li.fresh .title').allTextContents()).resolves.toEqual(['Payment failed']);
        const box = (await page.locator('herald-bell .panel').boundingBox())!;
        expect(box.x).toBeGreaterThanOrEqual(0);
        expect(box.x + box.width).toBeLessThanOrEqual(scene.width);
        expect(box.y + box.height).toBeLessThanOrEqual(scene.height);
        const bell = (await page.locator('herald-bell button.bell').boundingBox())!;
        expect(box.y).toBeGreaterThan(bell.y + bell.height);
        // The dates of older items, today's by time alone.
        const times = await page.locator('herald-bell li time').allTextContents();
        expect(times.at(-1)).toMatch(/2025/);
        expect(times.at(-2)).not.toMatch(/2025/);
        expect(times.at(-2)).toMatch(/[A-Z][a-z]{2}/);
        await page.screenshot({ path: join(await screenshots(), `widget-${scene.name}-${colorScheme}.png`) });
        await page.close();
      });
    }
  }

  /** Two notifications of today and two older ones (earlier this year, last year), all seen; then a new one. */
  async function fill(page: Page, sub: string): Promise<void> {
    await publisher.publish({ users: [sub], type: 'invoice.paid', payload: { title: 'Invoice #1042 paid', body: 'Acme Corp paid 1,200.00 EUR.' } });
    await publisher.publish({ users: [sub], type: 'comment', payload: { title: 'New comment from Dana', body: '"Can we move the due date to Friday?"' } });
    await eventually(async () => expect(await page.locator('herald-bell li').count()).toBe(2));
    await page.evaluate(() => {
      const bell = (window as unknown as { bell: { add(n: unknown): void } }).bell;
      const now = new Date();
      const earlier = new Date(now.getFullYear(), now.getMonth(), now.getDate() === 1 ? 2 : 1, 9, 30);
      if (earlier >= now) earlier.setMonth(earlier.getMonth() - 1);
      if (earlier.toDateString() === now.toDateString()) earlier.setDate(earlier.getDate() - 1);
      bell.add({ id: 'older-1', seq: 'x-1', room: 'public:news', type: 'release', payload: { title: 'Release 4.2 is out', body: 'Exports now include VAT numbers.' }, timestamp: earlier.toISOString() });
      bell.add({ id: 'older-2', seq: 'x-2', room: 'public:news', type: 'welcome', payload: { title: 'Welcome to Acme Billing' }, timestamp: '2025-03-14T08:00:00Z' });
    });
    await eventually(async () => expect(await page.locator('herald-bell li').count()).toBe(4));
    // Seen once (opened and closed), then one more arrives: the open list shows it as the new one.
    await page.locator('herald-bell button.bell').click();
    await page.locator('herald-bell button.bell').click();
    await publisher.publish({ users: [sub], type: 'payment.failed', payload: { title: 'Payment failed', body: 'The card ending 4242 was declined.' } });
    await eventually(async () => expect(await page.locator('herald-bell .badge').textContent()).toBe('1'));
  }
});

async function screenshots(): Promise<string> {
  await mkdir(SCREENSHOTS, { recursive: true });
  return SCREENSHOTS;
}
